//! [`Params`]: a normalized algorithm (the members of its dictionary that
//! the operation reads), as `15_crypto.js` hands it over.

use std::sync::Arc;

use super::Result;
use super::algorithm::{Alg, Curve, Hash};
use super::error::fail;
use super::key::Key;

/// A normalized `AlgorithmIdentifier`. Buffers are copies (the spec copies
/// them before the operation runs, and an operation may leave the shard).
#[derive(Default)]
pub(crate) struct Params {
    pub(crate) alg: Option<Alg>,
    pub(crate) hash: Option<Hash>,
    /// `length` (AES key bits, HMAC key bits, AES-CTR counter bits).
    pub(crate) length: Option<u32>,
    pub(crate) curve: Option<Curve>,
    /// `iv` (AES-CBC, AES-GCM) or `counter` (AES-CTR).
    pub(crate) iv: Option<Vec<u8>>,
    /// `additionalData` (AES-GCM) or `label` (RSA-OAEP).
    pub(crate) aad: Option<Vec<u8>>,
    pub(crate) tag_length: Option<u32>,
    pub(crate) salt: Option<Vec<u8>>,
    pub(crate) info: Option<Vec<u8>>,
    pub(crate) iterations: Option<u32>,
    pub(crate) salt_length: Option<u32>,
    /// `public` (ECDH, X25519).
    pub(crate) public: Option<Arc<Key>>,
    pub(crate) modulus_length: Option<u32>,
    pub(crate) public_exponent: Option<Vec<u8>>,
}

impl Params {
    /// Params naming `alg` and nothing else (the vector tests build them).
    #[cfg(test)]
    pub(crate) fn new(alg: Alg) -> Self {
        Self {
            alg: Some(alg),
            ..Self::default()
        }
    }

    pub(crate) fn alg(&self) -> Result<Alg> {
        match self.alg {
            Some(a) => Ok(a),
            None => fail!(Type, "Algorithm: name is required"),
        }
    }

    /// A required member (JS normalization checks presence; this guards
    /// the Rust callers).
    pub(crate) fn need<'a, T>(v: &'a Option<T>, member: &str) -> Result<&'a T> {
        match v {
            Some(v) => Ok(v),
            None => fail!(Type, "Algorithm: the member {member} is required"),
        }
    }

    pub(crate) fn hash(&self) -> Result<Hash> {
        Self::need(&self.hash, "hash").copied()
    }
}
