//! Message digests and HMACs computed piece by piece, on RustCrypto's
//! `sha1`, `sha2`, `md-5` and `hmac` crates: `node:crypto`'s `createHash`
//! and `createHmac` (`node/crypto.rs`).
//!
//! WebCrypto (issue 22, written in parallel) has digests and HMACs of its
//! own (`crypto/digest.rs`: `Hasher`, `HmacState`); this module has the same
//! shape (`new`, `update`, `finish`), so when it lands one of the two goes
//! and `node:crypto` calls the other.

use hmac::{Hmac, Mac};
use sha2::Digest;

/// A digest algorithm, by the names Node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// The algorithm `name` names (Node's and WebCrypto's spellings, any case).
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "md5" => Self::Md5,
            "sha1" | "sha-1" | "rsa-sha1" => Self::Sha1,
            "sha224" | "sha-224" => Self::Sha224,
            "sha256" | "sha-256" | "rsa-sha256" => Self::Sha256,
            "sha384" | "sha-384" => Self::Sha384,
            "sha512" | "sha-512" | "rsa-sha512" => Self::Sha512,
            _ => return None,
        })
    }

    /// Names `node:crypto`'s `getHashes()` lists.
    pub(crate) const NAMES: &'static [&'static str] =
        &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];
}

/// A digest over data given piece by piece.
#[derive(Clone, Debug)]
pub(crate) enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub(crate) fn new(alg: HashAlg) -> Self {
        match alg {
            HashAlg::Md5 => Self::Md5(md5::Md5::new()),
            HashAlg::Sha1 => Self::Sha1(sha1::Sha1::new()),
            HashAlg::Sha224 => Self::Sha224(sha2::Sha224::new()),
            HashAlg::Sha256 => Self::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => Self::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Md5(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha224(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Self::Md5(h) => h.finalize().to_vec(),
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha224(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha384(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// An HMAC over data given piece by piece.
#[derive(Clone, Debug)]
pub(crate) enum HmacState {
    Md5(Hmac<md5::Md5>),
    Sha1(Hmac<sha1::Sha1>),
    Sha224(Hmac<sha2::Sha224>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

impl HmacState {
    /// An HMAC of `alg` under `key` (any length: HMAC hashes long keys).
    pub(crate) fn new(alg: HashAlg, key: &[u8]) -> Self {
        const ANY: &str = "HMAC takes a key of any length";
        match alg {
            HashAlg::Md5 => Self::Md5(Hmac::new_from_slice(key).expect(ANY)),
            HashAlg::Sha1 => Self::Sha1(Hmac::new_from_slice(key).expect(ANY)),
            HashAlg::Sha224 => Self::Sha224(Hmac::new_from_slice(key).expect(ANY)),
            HashAlg::Sha256 => Self::Sha256(Hmac::new_from_slice(key).expect(ANY)),
            HashAlg::Sha384 => Self::Sha384(Hmac::new_from_slice(key).expect(ANY)),
            HashAlg::Sha512 => Self::Sha512(Hmac::new_from_slice(key).expect(ANY)),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Md5(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha224(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Self::Md5(h) => h.finalize().into_bytes().to_vec(),
            Self::Sha1(h) => h.finalize().into_bytes().to_vec(),
            Self::Sha224(h) => h.finalize().into_bytes().to_vec(),
            Self::Sha256(h) => h.finalize().into_bytes().to_vec(),
            Self::Sha384(h) => h.finalize().into_bytes().to_vec(),
            Self::Sha512(h) => h.finalize().into_bytes().to_vec(),
        }
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their length.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn digest(alg: &str, data: &[u8]) -> String {
        let mut h = Hasher::new(HashAlg::from_name(alg).unwrap());
        // In two pieces: the same as in one.
        let (a, b) = data.split_at(data.len() / 2);
        h.update(a);
        h.update(b);
        hex(&h.finish())
    }

    #[test]
    fn digests_match_published_vectors() {
        assert_eq!(digest("md5", b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            digest("sha1", b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            digest("SHA-256", b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest("sha224", b"abc"),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert!(digest("sha384", b"abc").starts_with("cb00753f45a35e8bb5a03d699ac65007"));
        assert!(digest("sha512", b"abc").starts_with("ddaf35a193617abacc417349ae204131"));
        assert_eq!(HashAlg::from_name("whirlpool"), None);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mut m = HmacState::new(HashAlg::Sha256, b"Jefe");
        m.update(b"what do ya want ");
        m.update(b"for nothing?");
        assert_eq!(
            hex(&m.finish()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(constant_time_eq(b"ab", b"ab") && !constant_time_eq(b"ab", b"ac"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
