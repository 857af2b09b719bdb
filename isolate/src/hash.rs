//! Message digests and HMACs computed piece by piece for `node:crypto`'s
//! `createHash` and `createHmac` (`node/crypto.rs`): by Node's names, on
//! WebCrypto's code (`crypto/digest.rs`) wherever it has the algorithm;
//! only SHA-224 and the MD5 HMAC, which WebCrypto does not offer, use
//! RustCrypto's `sha2`, `md-5` and `hmac` here.

use hmac::{Hmac, Mac};
use sha2::Digest;

use crate::crypto::Hash;
use crate::crypto::digest::{self, DigestAlg};

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

impl HashAlg {
    /// The WebCrypto hash this is, where there is one: those run on
    /// WebCrypto's code (ring's assembly).
    fn web(self) -> Option<Hash> {
        match self {
            Self::Sha1 => Some(Hash::Sha1),
            Self::Sha256 => Some(Hash::Sha256),
            Self::Sha384 => Some(Hash::Sha384),
            Self::Sha512 => Some(Hash::Sha512),
            Self::Md5 | Self::Sha224 => None,
        }
    }
}

/// A digest over data given piece by piece: WebCrypto's `Hasher` (SHA-1/2
/// and MD5), and SHA-224, which only Node has.
#[derive(Clone, Debug)]
pub(crate) enum Hasher {
    Web(digest::Hasher),
    Sha224(sha2::Sha224),
}

impl Hasher {
    pub(crate) fn new(alg: HashAlg) -> Self {
        match (alg, alg.web()) {
            (_, Some(h)) => Self::Web(digest::Hasher::new(DigestAlg::Sha(h))),
            (HashAlg::Md5, None) => Self::Web(digest::Hasher::new(DigestAlg::Md5)),
            _ => Self::Sha224(sha2::Sha224::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Web(h) => h.update(data),
            Self::Sha224(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Self::Web(h) => h.finish(),
            Self::Sha224(h) => h.finalize().to_vec(),
        }
    }
}

/// An HMAC over data given piece by piece: WebCrypto's `HmacState` for the
/// SHA-1/2 hashes, RustCrypto's `hmac` for the two only Node allows.
#[derive(Clone, Debug)]
pub(crate) enum HmacState {
    Web(digest::HmacState),
    Md5(Hmac<md5::Md5>),
    Sha224(Hmac<sha2::Sha224>),
}

impl HmacState {
    /// An HMAC of `alg` under `key` (any length: HMAC hashes long keys).
    pub(crate) fn new(alg: HashAlg, key: &[u8]) -> Self {
        const ANY: &str = "HMAC takes a key of any length";
        match (alg, alg.web()) {
            (_, Some(h)) => Self::Web(digest::HmacState::new(h, key)),
            (HashAlg::Md5, None) => Self::Md5(Hmac::new_from_slice(key).expect(ANY)),
            _ => Self::Sha224(Hmac::new_from_slice(key).expect(ANY)),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Web(h) => h.update(data),
            Self::Md5(h) => h.update(data),
            Self::Sha224(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Self::Web(h) => h.finish(),
            Self::Md5(h) => h.finalize().into_bytes().to_vec(),
            Self::Sha224(h) => h.finalize().into_bytes().to_vec(),
        }
    }
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
        // Every algorithm's HMAC (both kinds of state), in two pieces,
        // against the published HMAC("key", "The quick brown fox jumps
        // over the lazy dog").
        for name in HashAlg::NAMES {
            let alg = HashAlg::from_name(name).unwrap();
            let mut m = HmacState::new(alg, b"key");
            m.update(b"The quick brown fox ");
            m.update(b"jumps over the lazy dog");
            let got = hex(&m.finish());
            let want = match alg {
                HashAlg::Md5 => "80070713463e7749b90c2dc24911e275",
                HashAlg::Sha1 => "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9",
                HashAlg::Sha224 => "88ff8b54675d39b8f72322e65ff945c52d96379988ada25639747e69",
                HashAlg::Sha256 => {
                    "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
                }
                HashAlg::Sha384 => {
                    "d7f4727e2c0b39ae0f1e40cc96f60242d5b7801841cea6fc592c5d3e1ae50700582a96cf35e1e554995fe4e03381c237"
                }
                HashAlg::Sha512 => {
                    "b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb82f948a549f7b791a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a"
                }
            };
            assert_eq!(got, want, "{name}");
        }
    }
}
