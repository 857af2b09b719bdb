//! The exceptions WebCrypto operations throw, named as the spec names them.

/// A failed WebCrypto step; JS sees a `DOMException` with [`Self::name`]
/// (or a `TypeError` for [`CryptoError::Type`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The algorithm, format or parameter is not one this runtime implements.
    #[error("{0}")]
    NotSupported(String),
    /// Usages that the key type does not allow, or none where some are needed.
    #[error("{0}")]
    Syntax(String),
    /// The key cannot be used this way (wrong algorithm, missing usage,
    /// not extractable).
    #[error("{0}")]
    InvalidAccess(String),
    /// Key data that is malformed or does not fit the algorithm.
    #[error("{0}")]
    Data(String),
    /// The operation itself failed (bad parameters, failed decryption).
    #[error("{0}")]
    Operation(String),
    /// A value of the wrong type (WebIDL's `TypeError`).
    #[error("{0}")]
    Type(String),
}

impl CryptoError {
    /// The `DOMException` name (`TypeError` for a type error).
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotSupported(_) => "NotSupportedError",
            Self::Syntax(_) => "SyntaxError",
            Self::InvalidAccess(_) => "InvalidAccessError",
            Self::Data(_) => "DataError",
            Self::Operation(_) => "OperationError",
            Self::Type(_) => "TypeError",
        }
    }
}

/// `Err(CryptoError::$kind(format!(...)))`.
macro_rules! fail {
    ($kind:ident, $($arg:tt)*) => {
        Err($crate::crypto::CryptoError::$kind(format!($($arg)*)))
    };
}
pub(crate) use fail;
