//! `generateKey`: random secret keys and key pairs for every algorithm that
//! has them.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::algorithm::{Alg, Curve};
use super::error::fail;
use super::key::{EcPrivate, Key, KeyType, Material, check_usages};
use super::params::Params;
use super::{Result, random_fill};

/// A new key, or a new pair.
pub(crate) enum Generated {
    Secret(Box<Key>),
    Pair { public: Box<Key>, private: Box<Key> },
}

/// `generateKey(params, extractable, usages)`.
pub(crate) fn generate(p: &Params, extractable: bool, usages: u8) -> Result<Generated> {
    let alg = p.alg()?;
    if !alg.is_asymmetric() {
        check_usages(alg, KeyType::Secret, usages)?;
        let length = match alg {
            Alg::Hmac => {
                let hash = p.hash()?;
                match p.length {
                    None => hash.block_bits(),
                    Some(0) => return fail!(Operation, "HMAC: length must not be zero"),
                    Some(l) => l,
                }
            }
            a if a.is_aes() => match p.length {
                Some(l @ (128 | 192 | 256)) => l,
                Some(l) => {
                    return fail!(
                        Operation,
                        "AES key length must be 128, 192 or 256 bits, not {l}"
                    );
                }
                None => return fail!(Type, "AesKeyGenParams: length is required"),
            },
            other => return fail!(NotSupported, "{} keys cannot be generated", other.name()),
        };
        let mut bytes = Zeroizing::new(vec![0u8; (length as usize).div_ceil(8)]);
        random_fill(&mut bytes)?;
        if length % 8 != 0 {
            if let Some(last) = bytes.last_mut() {
                *last &= 0xffu8 << (8 - length % 8);
            }
        }
        return Ok(Generated::Secret(Box::new(Key {
            alg,
            hash: if alg == Alg::Hmac { p.hash } else { None },
            curve: None,
            length,
            kind: KeyType::Secret,
            extractable,
            usages,
            material: Material::Secret(bytes),
        })));
    }
    let all = alg.public_usages() | alg.private_usages();
    if let Some(bad) = super::algorithm::usage::names(usages & !all).next() {
        return fail!(
            Syntax,
            "Usage \"{bad}\" is not allowed for {} keys",
            alg.name()
        );
    }
    let private_usages = usages & alg.private_usages();
    if private_usages == 0 {
        return fail!(Syntax, "Usages cannot be empty when creating a key.");
    }
    let (public, private) = match alg {
        Alg::RsassaPkcs1 | Alg::RsaPss | Alg::RsaOaep => {
            let bits = *Params::need(&p.modulus_length, "modulusLength")?;
            if !(256..=16384).contains(&bits) || bits % 8 != 0 {
                return fail!(
                    Operation,
                    "RSA: modulusLength must be a multiple of 8 between 256 and 16384, not {bits}"
                );
            }
            let e = Params::need(&p.public_exponent, "publicExponent")?;
            let e = rsa::BigUint::from_bytes_be(e);
            if e != rsa::BigUint::from(3u32) && e != rsa::BigUint::from(65537u32) {
                return fail!(Operation, "RSA: publicExponent must be 3 or 65537");
            }
            let key = rsa::RsaPrivateKey::new_with_exp(&mut rand_core::OsRng, bits as usize, &e)
                .map_err(|e| {
                    super::CryptoError::Operation(format!("RSA key generation failed: {e}"))
                })?;
            let public = key.to_public_key();
            (
                Material::RsaPublic(Box::new(public)),
                Material::RsaPrivate(Box::new(key)),
            )
        }
        Alg::Ecdsa | Alg::Ecdh => {
            let curve = Curve::from_name_checked(p.curve)?;
            let key = match curve {
                Curve::P256 => EcPrivate::P256(p256::SecretKey::random(&mut rand_core::OsRng)),
                Curve::P384 => EcPrivate::P384(p384::SecretKey::random(&mut rand_core::OsRng)),
                Curve::P521 => EcPrivate::P521(p521::SecretKey::random(&mut rand_core::OsRng)),
            };
            let public = key.public();
            (
                Material::EcPublic(public.clone()),
                Material::EcPrivate {
                    key,
                    public,
                    ring: OnceLock::new(),
                },
            )
        }
        Alg::Ed25519 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            random_fill(&mut *seed)?;
            let public = super::sign::ed25519_public(&seed)?;
            (
                Material::Ed25519Public(public),
                Material::Ed25519Private {
                    seed,
                    public,
                    ring: OnceLock::new(),
                },
            )
        }
        Alg::X25519 => {
            let mut bytes = Zeroizing::new([0u8; 32]);
            random_fill(&mut *bytes)?;
            let secret = x25519_dalek::StaticSecret::from(*bytes);
            let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
            (
                Material::X25519Public(public),
                Material::X25519Private(secret),
            )
        }
        other => return fail!(NotSupported, "{} keys cannot be generated", other.name()),
    };
    let make = |kind, extractable, usages, material| Key {
        alg,
        hash: if alg.is_rsa() { p.hash } else { None },
        curve: if matches!(alg, Alg::Ecdsa | Alg::Ecdh) {
            p.curve
        } else {
            None
        },
        length: 0,
        kind,
        extractable,
        usages,
        material,
    };
    Ok(Generated::Pair {
        // A public key is always extractable.
        public: Box::new(make(
            KeyType::Public,
            true,
            usages & alg.public_usages(),
            public,
        )),
        private: Box::new(make(KeyType::Private, extractable, private_usages, private)),
    })
}

/// Whether generating this key is slow enough to leave the shard (RSA).
pub(crate) fn is_slow(p: &Params) -> bool {
    p.alg.is_some_and(|a| a.is_rsa())
}

impl Curve {
    /// The curve a normalized algorithm names, or NotSupportedError.
    pub(crate) fn from_name_checked(curve: Option<Curve>) -> Result<Curve> {
        match curve {
            Some(c) => Ok(c),
            None => fail!(NotSupported, "A supported namedCurve is required"),
        }
    }
}
