//! Registered algorithm names, hashes, curves and key usages.

use super::Result;
use super::error::fail;

/// A hash function WebCrypto names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1 (legacy; still used by HMAC-SHA1 webhooks and RS1).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The hash a WebCrypto name (`"SHA-256"`, any case) names.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "SHA-1" => Self::Sha1,
            "SHA-256" => Self::Sha256,
            "SHA-384" => Self::Sha384,
            "SHA-512" => Self::Sha512,
            _ => return None,
        })
    }

    /// Its WebCrypto name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Block length in bits (an HMAC key's default length).
    pub fn block_bits(self) -> u32 {
        match self {
            Self::Sha1 | Self::Sha256 => 512,
            Self::Sha384 | Self::Sha512 => 1024,
        }
    }

    /// The suffix of JWK `alg` names (`HS256`, `RS1`...).
    pub(crate) fn jwk_suffix(self) -> &'static str {
        match self {
            Self::Sha1 => "1",
            Self::Sha256 => "256",
            Self::Sha384 => "384",
            Self::Sha512 => "512",
        }
    }

    pub(crate) fn ring_digest(self) -> &'static ring::digest::Algorithm {
        match self {
            Self::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &ring::digest::SHA256,
            Self::Sha384 => &ring::digest::SHA384,
            Self::Sha512 => &ring::digest::SHA512,
        }
    }

    pub(crate) fn ring_hmac(self) -> ring::hmac::Algorithm {
        match self {
            Self::Sha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => ring::hmac::HMAC_SHA256,
            Self::Sha384 => ring::hmac::HMAC_SHA384,
            Self::Sha512 => ring::hmac::HMAC_SHA512,
        }
    }

    pub(crate) fn ring_pbkdf2(self) -> ring::pbkdf2::Algorithm {
        match self {
            Self::Sha1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
            Self::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            Self::Sha384 => ring::pbkdf2::PBKDF2_HMAC_SHA384,
            Self::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
}

/// A registered WebCrypto algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 signatures.
    RsassaPkcs1,
    /// RSA-PSS signatures.
    RsaPss,
    /// RSA-OAEP encryption.
    RsaOaep,
    /// ECDSA signatures (P1363 `r || s`).
    Ecdsa,
    /// ECDH key agreement.
    Ecdh,
    /// Ed25519 signatures.
    Ed25519,
    /// X25519 key agreement.
    X25519,
    /// HMAC.
    Hmac,
    /// AES in counter mode.
    AesCtr,
    /// AES-CBC with PKCS#7 padding.
    AesCbc,
    /// AES-GCM.
    AesGcm,
    /// AES key wrap (RFC 3394).
    AesKw,
    /// PBKDF2 (HMAC).
    Pbkdf2,
    /// HKDF (HMAC).
    Hkdf,
}

impl Alg {
    /// The algorithm a normalized name names (JS has matched the case).
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "RSASSA-PKCS1-v1_5" => Self::RsassaPkcs1,
            "RSA-PSS" => Self::RsaPss,
            "RSA-OAEP" => Self::RsaOaep,
            "ECDSA" => Self::Ecdsa,
            "ECDH" => Self::Ecdh,
            "Ed25519" => Self::Ed25519,
            "X25519" => Self::X25519,
            "HMAC" => Self::Hmac,
            "AES-CTR" => Self::AesCtr,
            "AES-CBC" => Self::AesCbc,
            "AES-GCM" => Self::AesGcm,
            "AES-KW" => Self::AesKw,
            "PBKDF2" => Self::Pbkdf2,
            "HKDF" => Self::Hkdf,
            other => return fail!(NotSupported, "Unrecognized algorithm name: {other}"),
        })
    }

    /// Its registered name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsassaPkcs1 => "RSASSA-PKCS1-v1_5",
            Self::RsaPss => "RSA-PSS",
            Self::RsaOaep => "RSA-OAEP",
            Self::Ecdsa => "ECDSA",
            Self::Ecdh => "ECDH",
            Self::Ed25519 => "Ed25519",
            Self::X25519 => "X25519",
            Self::Hmac => "HMAC",
            Self::AesCtr => "AES-CTR",
            Self::AesCbc => "AES-CBC",
            Self::AesGcm => "AES-GCM",
            Self::AesKw => "AES-KW",
            Self::Pbkdf2 => "PBKDF2",
            Self::Hkdf => "HKDF",
        }
    }

    pub(crate) fn is_rsa(self) -> bool {
        matches!(self, Self::RsassaPkcs1 | Self::RsaPss | Self::RsaOaep)
    }

    pub(crate) fn is_aes(self) -> bool {
        matches!(
            self,
            Self::AesCtr | Self::AesCbc | Self::AesGcm | Self::AesKw
        )
    }

    /// The usages a public key of this algorithm may have (for a
    /// symmetric algorithm: every usage its key may have).
    pub(crate) fn public_usages(self) -> u8 {
        match self {
            Self::RsassaPkcs1 | Self::RsaPss | Self::Ecdsa | Self::Ed25519 => usage::VERIFY,
            Self::RsaOaep => usage::ENCRYPT | usage::WRAP_KEY,
            Self::Ecdh | Self::X25519 => 0,
            Self::Hmac => usage::SIGN | usage::VERIFY,
            Self::AesCtr | Self::AesCbc | Self::AesGcm => {
                usage::ENCRYPT | usage::DECRYPT | usage::WRAP_KEY | usage::UNWRAP_KEY
            }
            Self::AesKw => usage::WRAP_KEY | usage::UNWRAP_KEY,
            Self::Pbkdf2 | Self::Hkdf => usage::DERIVE_KEY | usage::DERIVE_BITS,
        }
    }

    /// The usages a private key of this algorithm may have.
    pub(crate) fn private_usages(self) -> u8 {
        match self {
            Self::RsassaPkcs1 | Self::RsaPss | Self::Ecdsa | Self::Ed25519 => usage::SIGN,
            Self::RsaOaep => usage::DECRYPT | usage::UNWRAP_KEY,
            Self::Ecdh | Self::X25519 => usage::DERIVE_KEY | usage::DERIVE_BITS,
            other => other.public_usages(),
        }
    }

    /// Whether keys of this algorithm come in pairs.
    pub(crate) fn is_asymmetric(self) -> bool {
        matches!(
            self,
            Self::RsassaPkcs1
                | Self::RsaPss
                | Self::RsaOaep
                | Self::Ecdsa
                | Self::Ecdh
                | Self::Ed25519
                | Self::X25519
        )
    }
}

/// A NIST curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// P-256 (secp256r1).
    P256,
    /// P-384 (secp384r1).
    P384,
    /// P-521 (secp521r1).
    P521,
}

impl Curve {
    /// The curve a `namedCurve` names (exact, as the spec compares).
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "P-256" => Self::P256,
            "P-384" => Self::P384,
            "P-521" => Self::P521,
            other => return fail!(NotSupported, "Unsupported namedCurve: {other}"),
        })
    }

    /// Its `namedCurve` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// Bytes of a field element (and of a P1363 signature half).
    pub fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    pub(crate) fn jwk_alg(self) -> &'static str {
        match self {
            Self::P256 => "ES256",
            Self::P384 => "ES384",
            Self::P521 => "ES512",
        }
    }
}

/// Key usages as bits, in the spec's order (which is also the order
/// `CryptoKey.usages` lists them in).
pub mod usage {
    /// `encrypt`.
    pub const ENCRYPT: u8 = 1;
    /// `decrypt`.
    pub const DECRYPT: u8 = 2;
    /// `sign`.
    pub const SIGN: u8 = 4;
    /// `verify`.
    pub const VERIFY: u8 = 8;
    /// `deriveKey`.
    pub const DERIVE_KEY: u8 = 16;
    /// `deriveBits`.
    pub const DERIVE_BITS: u8 = 32;
    /// `wrapKey`.
    pub const WRAP_KEY: u8 = 64;
    /// `unwrapKey`.
    pub const UNWRAP_KEY: u8 = 128;

    /// The names, bit `i` is `NAMES[i]`.
    pub const NAMES: [&str; 8] = [
        "encrypt",
        "decrypt",
        "sign",
        "verify",
        "deriveKey",
        "deriveBits",
        "wrapKey",
        "unwrapKey",
    ];

    /// The bit of a usage name.
    pub fn from_name(name: &str) -> Option<u8> {
        NAMES.iter().position(|n| *n == name).map(|i| 1 << i)
    }

    /// The names of the bits set, in order.
    pub fn names(bits: u8) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| *n)
    }
}
