//! A key as bytes, for structured clone across shards (actor RPC) and
//! Durable Object storage: its slots and its material (PKCS #8 or SPKI DER
//! for RSA and NIST-curve keys, the raw 32 bytes for curve25519 keys, the
//! secret bytes otherwise).

use std::sync::OnceLock;

use pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use zeroize::Zeroizing;

use super::algorithm::{Alg, Curve, Hash};
use super::error::fail;
use super::key::{EcPrivate, EcPublic, Key, KeyType, Material};
use super::{CryptoError, Result};

const VERSION: u8 = 1;

const ALGS: [Alg; 14] = [
    Alg::RsassaPkcs1,
    Alg::RsaPss,
    Alg::RsaOaep,
    Alg::Ecdsa,
    Alg::Ecdh,
    Alg::Ed25519,
    Alg::X25519,
    Alg::Hmac,
    Alg::AesCtr,
    Alg::AesCbc,
    Alg::AesGcm,
    Alg::AesKw,
    Alg::Pbkdf2,
    Alg::Hkdf,
];
const HASHES: [Hash; 4] = [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512];
const CURVES: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];
const KINDS: [KeyType; 3] = [KeyType::Secret, KeyType::Public, KeyType::Private];

fn index<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter().position(|x| x == v).map_or(0, |i| i as u8 + 1)
}

fn pick<T: Copy>(all: &[T], i: u8) -> Option<T> {
    (i as usize)
        .checked_sub(1)
        .and_then(|i| all.get(i).copied())
}

/// The key as bytes ([`from_bytes`] reads them back).
pub(crate) fn to_bytes(key: &Key) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![
        VERSION,
        index(&ALGS, &key.alg),
        key.hash.map_or(0, |h| index(&HASHES, &h)),
        key.curve.map_or(0, |c| index(&CURVES, &c)),
        index(&KINDS, &key.kind),
        key.extractable as u8,
        key.usages,
    ]);
    out.extend_from_slice(&key.length.to_le_bytes());
    let enc = |e: String| CryptoError::Operation(format!("The key cannot be cloned: {e}"));
    let material: Zeroizing<Vec<u8>> = match &key.material {
        Material::Secret(b) => b.clone(),
        Material::RsaPrivate(k) => Zeroizing::new(
            k.to_pkcs8_der()
                .map_err(|e| enc(e.to_string()))?
                .as_bytes()
                .to_vec(),
        ),
        Material::RsaPublic(k) => Zeroizing::new(
            k.to_public_key_der()
                .map_err(|e| enc(e.to_string()))?
                .into_vec(),
        ),
        Material::EcPrivate { key: k, .. } => k.scalar_bytes(),
        Material::EcPublic(k) => Zeroizing::new(k.uncompressed()),
        Material::Ed25519Private { seed, .. } => Zeroizing::new(seed.to_vec()),
        Material::Ed25519Public(k) | Material::X25519Public(k) => Zeroizing::new(k.to_vec()),
        Material::X25519Private(s) => Zeroizing::new(s.to_bytes().to_vec()),
    };
    out.extend_from_slice(&material);
    Ok(out)
}

/// The key [`to_bytes`] wrote.
pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Key> {
    let bad = || CryptoError::Data("The cloned key is malformed".into());
    if bytes.len() < 11 || bytes[0] != VERSION {
        return Err(bad());
    }
    let alg = pick(&ALGS, bytes[1]).ok_or_else(bad)?;
    let hash = pick(&HASHES, bytes[2]);
    let curve = pick(&CURVES, bytes[3]);
    let kind = pick(&KINDS, bytes[4]).ok_or_else(bad)?;
    let length = u32::from_le_bytes(bytes[7..11].try_into().map_err(|_| bad())?);
    let m = &bytes[11..];
    let material = match (alg, kind) {
        (_, KeyType::Secret) => Material::Secret(Zeroizing::new(m.to_vec())),
        (a, KeyType::Private) if a.is_rsa() => Material::RsaPrivate(Box::new(
            rsa::RsaPrivateKey::from_pkcs8_der(m).map_err(|_| bad())?,
        )),
        (a, KeyType::Public) if a.is_rsa() => Material::RsaPublic(Box::new(
            rsa::RsaPublicKey::from_public_key_der(m).map_err(|_| bad())?,
        )),
        (Alg::Ecdsa | Alg::Ecdh, KeyType::Private) => {
            let k = match curve.ok_or_else(bad)? {
                Curve::P256 => EcPrivate::P256(p256::SecretKey::from_slice(m).map_err(|_| bad())?),
                Curve::P384 => EcPrivate::P384(p384::SecretKey::from_slice(m).map_err(|_| bad())?),
                Curve::P521 => EcPrivate::P521(p521::SecretKey::from_slice(m).map_err(|_| bad())?),
            };
            let public = k.public();
            Material::EcPrivate {
                key: k,
                public,
                ring: OnceLock::new(),
            }
        }
        (Alg::Ecdsa | Alg::Ecdh, KeyType::Public) => {
            Material::EcPublic(EcPublic::from_sec1(curve.ok_or_else(bad)?, m)?)
        }
        (Alg::Ed25519 | Alg::X25519, KeyType::Private) => super::format::okp_private(alg, m)?,
        (Alg::Ed25519, KeyType::Public) => {
            Material::Ed25519Public(m.try_into().map_err(|_| bad())?)
        }
        (Alg::X25519, KeyType::Public) => Material::X25519Public(m.try_into().map_err(|_| bad())?),
        _ => return fail!(Data, "The cloned key is malformed"),
    };
    Ok(Key {
        alg,
        hash,
        curve,
        length,
        kind,
        extractable: bytes[5] != 0,
        usages: bytes[6],
        material,
    })
}
