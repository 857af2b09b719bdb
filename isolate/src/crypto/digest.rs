//! Digests (`crypto.subtle.digest`, `crypto.DigestStream`) and HMAC, also
//! for other modules (`node:crypto`'s hashes and HMACs use these).
//!
//! MD5 is accepted by `digest` and `DigestStream` as Workers accept it (a
//! non-standard extension, for ETags and legacy checksums); it is never a
//! `hash` of a signature, MAC or key derivation.

use md5::Digest as _;

use super::Result;
use super::algorithm::Hash;
use super::error::fail;

/// What `digest` may compute: the WebCrypto hashes, and MD5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlg {
    /// A WebCrypto hash.
    Sha(Hash),
    /// MD5 (Workers' extension).
    Md5,
}

impl DigestAlg {
    /// The algorithm a name (any case) names, or NotSupportedError.
    pub fn from_name(name: &str) -> Result<Self> {
        if name.eq_ignore_ascii_case("MD5") {
            return Ok(Self::Md5);
        }
        match Hash::from_name(name) {
            Some(h) => Ok(Self::Sha(h)),
            None => fail!(NotSupported, "Unrecognized algorithm name: {name}"),
        }
    }
}

/// The digest of `data`.
///
/// ```
/// use ringworker_isolate::crypto::{Hash, digest::{digest, DigestAlg}};
/// let d = digest(DigestAlg::Sha(Hash::Sha256), b"abc");
/// assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
/// ```
pub fn digest(alg: DigestAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        DigestAlg::Sha(h) => ring::digest::digest(h.ring_digest(), data)
            .as_ref()
            .to_vec(),
        DigestAlg::Md5 => md5::Md5::digest(data).to_vec(),
    }
}

/// A digest computed over data given piece by piece.
#[derive(Clone)]
pub enum Hasher {
    /// A SHA hash (ring's context).
    Sha(ring::digest::Context),
    /// MD5.
    Md5(md5::Md5),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// A new digest of `alg`.
    pub fn new(alg: DigestAlg) -> Self {
        match alg {
            DigestAlg::Sha(h) => Self::Sha(ring::digest::Context::new(h.ring_digest())),
            DigestAlg::Md5 => Self::Md5(md5::Md5::new()),
        }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha(c) => c.update(data),
            Self::Md5(c) => c.update(data),
        }
    }

    /// The digest of everything added.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha(c) => c.finish().as_ref().to_vec(),
            Self::Md5(c) => c.finalize().to_vec(),
        }
    }
}

/// HMAC of `data` under `key`.
pub fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(hash.ring_hmac(), key);
    ring::hmac::sign(&key, data).as_ref().to_vec()
}

/// Whether `tag` is the HMAC of `data` under `key` (compared in constant time).
pub fn hmac_verify(hash: Hash, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let key = ring::hmac::Key::new(hash.ring_hmac(), key);
    ring::hmac::verify(&key, data, tag).is_ok()
}

/// An HMAC computed over data given piece by piece.
#[derive(Clone)]
pub struct HmacState(ring::hmac::Context);

impl std::fmt::Debug for HmacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacState")
    }
}

impl HmacState {
    /// A new HMAC under `key`.
    pub fn new(hash: Hash, key: &[u8]) -> Self {
        Self(ring::hmac::Context::with_key(&ring::hmac::Key::new(
            hash.ring_hmac(),
            key,
        )))
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The MAC of everything added.
    pub fn finish(self) -> Vec<u8> {
        self.0.sign().as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // FIPS 180-2 / RFC 1321 examples ("abc" and the 448-bit message).
    #[test]
    fn digests_match_the_published_examples() {
        let cases = [
            ("SHA-1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "SHA-256",
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                "sha-384",
                "abc",
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                "SHA-512",
                "abc",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (
                "SHA-256",
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            ("MD5", "", "d41d8cd98f00b204e9800998ecf8427e"),
            ("MD5", "abc", "900150983cd24fb0d6963f7d28e17f72"),
        ];
        for (alg, msg, want) in cases {
            let alg = DigestAlg::from_name(alg).unwrap();
            assert_eq!(digest(alg, msg.as_bytes()), hex(want), "{alg:?} {msg}");
            let mut h = Hasher::new(alg);
            for b in msg.as_bytes().chunks(3) {
                h.update(b);
            }
            assert_eq!(h.finish(), hex(want), "streamed {alg:?} {msg}");
        }
        assert_eq!(
            DigestAlg::from_name("SHA-3"),
            Err(super::super::CryptoError::NotSupported(
                "Unrecognized algorithm name: SHA-3".into()
            ))
        );
    }

    // RFC 4231 test cases 1, 2, 6 (SHA-256/384/512) and RFC 2202 case 2 (SHA-1).
    #[test]
    fn hmac_matches_rfc_4231_and_2202() {
        let k1 = vec![0x0b; 20];
        let d1 = b"Hi There";
        assert_eq!(
            hmac(Hash::Sha256, &k1, d1),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            hmac(Hash::Sha384, &k1, d1),
            hex(
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"
            )
        );
        assert_eq!(
            hmac(Hash::Sha512, &k1, d1),
            hex(
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
            )
        );
        let k2 = b"Jefe";
        let d2 = b"what do ya want for nothing?";
        assert_eq!(
            hmac(Hash::Sha256, k2, d2),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            hmac(Hash::Sha1, k2, d2),
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        let k6 = vec![0xaa; 131];
        let d6 = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            hmac(Hash::Sha256, &k6, d6),
            hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
        assert!(hmac_verify(
            Hash::Sha256,
            &k6,
            d6,
            &hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        ));
        assert!(!hmac_verify(
            Hash::Sha256,
            &k6,
            d6,
            &hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f55")
        ));
        let mut s = HmacState::new(Hash::Sha256, k2);
        s.update(b"what do ya want ");
        s.update(b"for nothing?");
        assert_eq!(
            s.finish(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }
}
