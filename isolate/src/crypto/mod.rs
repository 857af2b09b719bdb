//! WebCrypto: `crypto.subtle`, `crypto.DigestStream`, `crypto.getRandomValues`
//! and `crypto.subtle.timingSafeEqual` (`js/15_crypto.js`), as the W3C Web
//! Cryptography API (with the Level 2 draft's Ed25519 and X25519) and
//! Cloudflare's Workers docs describe them.
//!
//! Key material never reaches the JS heap: a `CryptoKey` carries a handle
//! (a V8 private property) into this isolate's key table ([`ops`]); the
//! material is zeroed when its last handle is dropped. The cryptography is
//! ring's where it covers a case (digests, HMAC, AES-GCM, ECDSA P-256/P-384,
//! Ed25519, PBKDF2: its assembly is what BoringSSL-based peers run) and
//! RustCrypto's for the rest and for every key format.
//!
//! - [`algorithm`]: names, hashes and curves, the usage bits;
//! - [`key`]: the key a handle points to, and its material;
//! - [`digest`], [`sign`], [`cipher`], [`derive`], [`generate`],
//!   [`format`] (raw/pkcs8/spki/jwk import and export): the operations,
//!   plain Rust, tested on published vectors;
//! - [`ops`]: the V8 glue (the ops `15_crypto.js` calls), where long
//!   operations leave the shard for glommio's blocking pool.
//!
//! Other modules (`node:crypto`) hash, MAC and compare with the same code:
//! [`digest::digest`], [`digest::Hasher`], [`digest::hmac`],
//! [`digest::HmacState`], [`random_fill`] and [`timing_safe_equal`].

pub mod algorithm;
pub(crate) mod cipher;
mod clone;
pub(crate) mod derive;
pub mod digest;
mod error;
pub(crate) mod format;
pub(crate) mod generate;
pub(crate) mod key;
pub(crate) mod ops;
pub(crate) mod params;
pub(crate) mod sign;
#[cfg(test)]
mod vectors;
mod wiped;

pub use algorithm::Hash;
pub use error::CryptoError;

/// Fills `bytes` from the operating system's random source.
pub fn random_fill(bytes: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(bytes)
        .map_err(|e| CryptoError::Operation(format!("the OS random source failed: {e}")))
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths (unequal lengths answer false at once, as Workers' does).
pub fn timing_safe_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A `Result` whose error is a WebCrypto exception.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
