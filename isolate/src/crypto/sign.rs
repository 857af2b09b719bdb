//! `sign` / `verify`: HMAC, ECDSA (P1363 `r || s`), Ed25519,
//! RSASSA-PKCS1-v1_5 and RSA-PSS.
//!
//! ECDSA on (P-256, SHA-256) and (P-384, SHA-384), and Ed25519, run on
//! ring (the key pair is built on first use and kept with the key); other
//! curve/hash pairs on RustCrypto's curves over a prehash.

use ring::signature::{self as rs, KeyPair as _};
use rsa::signature::hazmat::{PrehashSigner, PrehashVerifier};

use super::Result;
use super::algorithm::{Alg, Curve, Hash, usage};
use super::digest::{self, DigestAlg};
use super::error::fail;
use super::key::{EcPrivate, EcPublic, Key, Material};
use super::params::Params;
use super::wiped::Wiped;

/// `sign(params, key, data)`.
pub(crate) fn sign(key: &Key, p: &Params, data: &[u8]) -> Result<Vec<u8>> {
    let alg = p.alg()?;
    key.check(alg, usage::SIGN)?;
    match alg {
        Alg::Hmac => Ok(digest::hmac(hash_of(key)?, key.secret()?, data)),
        Alg::Ecdsa => ecdsa_sign(key, p.hash()?, data),
        Alg::Ed25519 => ed25519_sign(key, data),
        Alg::RsassaPkcs1 => rsa_sign(key, None, data),
        Alg::RsaPss => rsa_sign(
            key,
            Some(*Params::need(&p.salt_length, "saltLength")?),
            data,
        ),
        other => fail!(NotSupported, "{} cannot sign", other.name()),
    }
}

/// `verify(params, key, signature, data)`: false for a signature that does
/// not verify (also one of the wrong length).
pub(crate) fn verify(key: &Key, p: &Params, signature: &[u8], data: &[u8]) -> Result<bool> {
    let alg = p.alg()?;
    key.check(alg, usage::VERIFY)?;
    match alg {
        Alg::Hmac => Ok(digest::hmac_verify(
            hash_of(key)?,
            key.secret()?,
            data,
            signature,
        )),
        Alg::Ecdsa => ecdsa_verify(key, p.hash()?, signature, data),
        Alg::Ed25519 => match &key.material {
            Material::Ed25519Public(public) => Ok(rs::UnparsedPublicKey::new(&rs::ED25519, public)
                .verify(data, signature)
                .is_ok()),
            _ => fail!(InvalidAccess, "Ed25519 verification needs a public key"),
        },
        Alg::RsassaPkcs1 => rsa_verify(key, None, signature, data),
        Alg::RsaPss => rsa_verify(
            key,
            Some(*Params::need(&p.salt_length, "saltLength")?),
            signature,
            data,
        ),
        other => fail!(NotSupported, "{} cannot verify", other.name()),
    }
}

fn hash_of(key: &Key) -> Result<Hash> {
    match key.hash {
        Some(h) => Ok(h),
        None => fail!(InvalidAccess, "The key has no hash"),
    }
}

/// ring's fixed-length ECDSA signing algorithm for a curve's own hash.
fn ring_ecdsa_signing(curve: Curve, hash: Hash) -> Option<&'static rs::EcdsaSigningAlgorithm> {
    match (curve, hash) {
        (Curve::P256, Hash::Sha256) => Some(&rs::ECDSA_P256_SHA256_FIXED_SIGNING),
        (Curve::P384, Hash::Sha384) => Some(&rs::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

fn ring_ecdsa_verification(
    curve: Curve,
    hash: Hash,
) -> Option<&'static rs::EcdsaVerificationAlgorithm> {
    match (curve, hash) {
        (Curve::P256, Hash::Sha256) => Some(&rs::ECDSA_P256_SHA256_FIXED),
        (Curve::P384, Hash::Sha384) => Some(&rs::ECDSA_P384_SHA384_FIXED),
        _ => None,
    }
}

/// The hash of `data` as the curve's ECDSA takes it: a hash shorter than
/// the curve's order is used as an integer, so it is left-padded to the
/// field length (RustCrypto refuses prehashes under half the field, such as
/// SHA-1 on P-384 or SHA-256 on P-521, which WebCrypto allows).
fn ecdsa_prehash(curve: Curve, hash: Hash, data: &[u8]) -> Vec<u8> {
    let h = digest::digest(DigestAlg::Sha(hash), data);
    let n = curve.field_len();
    if h.len() < n {
        let mut padded = vec![0u8; n - h.len()];
        padded.extend_from_slice(&h);
        return padded;
    }
    h
}

fn ecdsa_sign(key: &Key, hash: Hash, data: &[u8]) -> Result<Vec<u8>> {
    let Material::EcPrivate {
        key: k,
        public,
        ring,
    } = &key.material
    else {
        return fail!(InvalidAccess, "ECDSA signing needs a private key");
    };
    let rng = ring::rand::SystemRandom::new();
    if let Some(alg) = ring_ecdsa_signing(k.curve(), hash) {
        let pair = ring.get_or_init(|| {
            rs::EcdsaKeyPair::from_private_key_and_public_key(
                alg,
                &k.scalar_bytes(),
                &public.uncompressed(),
                &rng,
            )
            .ok()
            .map(Wiped::new)
        });
        if let Some(pair) = pair {
            return pair
                .sign(&rng, data)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| super::CryptoError::Operation("ECDSA signing failed".into()));
        }
    }
    let prehash = ecdsa_prehash(k.curve(), hash, data);
    let failed = |_| super::CryptoError::Operation("ECDSA signing failed".into());
    Ok(match k {
        EcPrivate::P256(sk) => {
            let s: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(sk)
                .sign_prehash(&prehash)
                .map_err(failed)?;
            s.to_bytes().to_vec()
        }
        EcPrivate::P384(sk) => {
            let s: p384::ecdsa::Signature = p384::ecdsa::SigningKey::from(sk)
                .sign_prehash(&prehash)
                .map_err(failed)?;
            s.to_bytes().to_vec()
        }
        EcPrivate::P521(sk) => {
            let signer = p521::ecdsa::SigningKey::from_bytes(&sk.to_bytes()).map_err(failed)?;
            let s: p521::ecdsa::Signature = signer.sign_prehash(&prehash).map_err(failed)?;
            s.to_bytes().to_vec()
        }
    })
}

fn ecdsa_verify(key: &Key, hash: Hash, signature: &[u8], data: &[u8]) -> Result<bool> {
    let Material::EcPublic(public) = &key.material else {
        return fail!(InvalidAccess, "ECDSA verification needs a public key");
    };
    let curve = public.curve();
    if signature.len() != 2 * curve.field_len() {
        return Ok(false);
    }
    if let Some(alg) = ring_ecdsa_verification(curve, hash) {
        return Ok(rs::UnparsedPublicKey::new(alg, public.uncompressed())
            .verify(data, signature)
            .is_ok());
    }
    let prehash = ecdsa_prehash(curve, hash, data);
    Ok(match public {
        EcPublic::P256(pk) => p256::ecdsa::Signature::from_slice(signature)
            .map(|s| {
                p256::ecdsa::VerifyingKey::from(pk)
                    .verify_prehash(&prehash, &s)
                    .is_ok()
            })
            .unwrap_or(false),
        EcPublic::P384(pk) => p384::ecdsa::Signature::from_slice(signature)
            .map(|s| {
                p384::ecdsa::VerifyingKey::from(pk)
                    .verify_prehash(&prehash, &s)
                    .is_ok()
            })
            .unwrap_or(false),
        EcPublic::P521(pk) => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let Ok(vk) =
                p521::ecdsa::VerifyingKey::from_sec1_bytes(pk.to_encoded_point(false).as_bytes())
            else {
                return Ok(false);
            };
            p521::ecdsa::Signature::from_slice(signature)
                .map(|s| vk.verify_prehash(&prehash, &s).is_ok())
                .unwrap_or(false)
        }
    })
}

/// ring's Ed25519 key pair for a seed and its public key.
pub(crate) fn ed25519_pair(seed: &[u8; 32]) -> Result<rs::Ed25519KeyPair> {
    rs::Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|_| super::CryptoError::Data("Invalid Ed25519 private key".into()))
}

/// The public key of an Ed25519 seed.
pub(crate) fn ed25519_public(seed: &[u8; 32]) -> Result<[u8; 32]> {
    let pair = ed25519_pair(seed)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(pair.public_key().as_ref());
    Ok(out)
}

fn ed25519_sign(key: &Key, data: &[u8]) -> Result<Vec<u8>> {
    let Material::Ed25519Private { seed, ring, .. } = &key.material else {
        return fail!(InvalidAccess, "Ed25519 signing needs a private key");
    };
    let pair = ring.get_or_init(|| ed25519_pair(seed).ok().map(Wiped::new));
    match pair {
        Some(pair) => Ok(pair.sign(data).as_ref().to_vec()),
        None => fail!(Operation, "Invalid Ed25519 private key"),
    }
}

fn pkcs1_scheme(hash: Hash) -> rsa::Pkcs1v15Sign {
    match hash {
        Hash::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
        Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
        Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

fn pss_scheme(hash: Hash, salt: usize) -> rsa::Pss {
    match hash {
        Hash::Sha1 => rsa::Pss::new_with_salt::<sha1::Sha1>(salt),
        Hash::Sha256 => rsa::Pss::new_with_salt::<sha2::Sha256>(salt),
        Hash::Sha384 => rsa::Pss::new_with_salt::<sha2::Sha384>(salt),
        Hash::Sha512 => rsa::Pss::new_with_salt::<sha2::Sha512>(salt),
    }
}

/// RSASSA-PKCS1-v1_5 (`pss_salt` None) or RSA-PSS signing.
fn rsa_sign(key: &Key, pss_salt: Option<u32>, data: &[u8]) -> Result<Vec<u8>> {
    let Material::RsaPrivate(k) = &key.material else {
        return fail!(InvalidAccess, "RSA signing needs a private key");
    };
    let hash = hash_of(key)?;
    let hashed = digest::digest(DigestAlg::Sha(hash), data);
    let r = match pss_salt {
        None => k.sign(pkcs1_scheme(hash), &hashed),
        Some(salt) => k.sign_with_rng(
            &mut rand_core::OsRng,
            pss_scheme(hash, salt as usize),
            &hashed,
        ),
    };
    r.map_err(|e| super::CryptoError::Operation(format!("RSA signing failed: {e}")))
}

fn rsa_verify(key: &Key, pss_salt: Option<u32>, signature: &[u8], data: &[u8]) -> Result<bool> {
    let Material::RsaPublic(k) = &key.material else {
        return fail!(InvalidAccess, "RSA verification needs a public key");
    };
    let hash = hash_of(key)?;
    let hashed = digest::digest(DigestAlg::Sha(hash), data);
    Ok(match pss_salt {
        None => k.verify(pkcs1_scheme(hash), &hashed, signature).is_ok(),
        Some(salt) => k
            .verify(pss_scheme(hash, salt as usize), &hashed, signature)
            .is_ok(),
    })
}

/// RSA private-key operations (sign, decrypt, unwrap) on keys this large
/// or larger leave the shard: with the `rsa` crate a 2048-bit signature
/// takes ~1.4 ms of CPU in a release build here, a 1024-bit one ~0.26 ms
/// (`bench/scripts/crypto.sh`, bench/RESULTS.md §11). Work past ~1 ms would
/// hold up every other request of the shard; the hop to the blocking pool
/// and back costs far less.
pub(crate) const RSA_OFF_SHARD_BITS: u32 = 2048;

/// Whether signing with `key` is slow enough to leave the shard: RSA
/// private-key operations of 2048 bits and more (~1 ms and up).
pub(crate) fn is_slow(key: &Key) -> bool {
    matches!(key.rsa_params(), Some((bits, _)) if bits >= RSA_OFF_SHARD_BITS)
}
