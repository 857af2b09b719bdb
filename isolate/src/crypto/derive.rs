//! `deriveBits` (and the bits `deriveKey` imports): PBKDF2, HKDF, ECDH and
//! X25519.

use zeroize::Zeroizing;

use super::algorithm::{Alg, Hash};
use super::error::fail;
use super::key::{EcPrivate, EcPublic, Key, KeyType, Material};
use super::params::Params;
use super::{CryptoError, Result};

/// The first `length` bits of the shared secret of `p.alg` between `key`
/// and what `p` names (null `length`: all of an ECDH/X25519 secret). The
/// caller checked the key's usage (`deriveBits` or `deriveKey`).
pub(crate) fn derive_bits(
    key: &Key,
    p: &Params,
    length: Option<u32>,
) -> Result<Zeroizing<Vec<u8>>> {
    let alg = p.alg()?;
    if key.alg != alg {
        return fail!(
            InvalidAccess,
            "The key's algorithm is {}, not {}",
            key.alg.name(),
            alg.name()
        );
    }
    match alg {
        Alg::Ecdh | Alg::X25519 => {
            let public = Params::need(&p.public, "public")?;
            if public.kind != KeyType::Public {
                return fail!(InvalidAccess, "The public member must be a public key");
            }
            if public.alg != alg {
                return fail!(
                    InvalidAccess,
                    "The public key's algorithm is {}, not {}",
                    public.alg.name(),
                    alg.name()
                );
            }
            let secret = if alg == Alg::Ecdh {
                ecdh(key, public)?
            } else {
                x25519(key, public)?
            };
            truncate(secret, length)
        }
        Alg::Hkdf => {
            let length = whole_bytes(length)?;
            let mut out = Zeroizing::new(vec![0u8; length]);
            let salt = Params::need(&p.salt, "salt")?;
            let info = Params::need(&p.info, "info")?;
            let ikm = key.secret()?;
            let too_long =
                |_| CryptoError::Operation("HKDF: the length is too large for the hash".into());
            macro_rules! run {
                ($d:ty) => {
                    hkdf::Hkdf::<$d>::new(Some(salt), ikm)
                        .expand(info, &mut out)
                        .map_err(too_long)?
                };
            }
            match p.hash()? {
                Hash::Sha1 => run!(sha1::Sha1),
                Hash::Sha256 => run!(sha2::Sha256),
                Hash::Sha384 => run!(sha2::Sha384),
                Hash::Sha512 => run!(sha2::Sha512),
            }
            Ok(out)
        }
        Alg::Pbkdf2 => {
            let length = whole_bytes(length)?;
            let iterations = *Params::need(&p.iterations, "iterations")?;
            let Some(iterations) = std::num::NonZeroU32::new(iterations) else {
                return fail!(Operation, "PBKDF2: iterations must not be zero");
            };
            let mut out = Zeroizing::new(vec![0u8; length]);
            if length > 0 {
                ring::pbkdf2::derive(
                    p.hash()?.ring_pbkdf2(),
                    iterations,
                    Params::need(&p.salt, "salt")?,
                    key.secret()?,
                    &mut out,
                );
            }
            Ok(out)
        }
        other => fail!(NotSupported, "{} cannot derive bits", other.name()),
    }
}

/// A length that must be given in whole bytes (HKDF, PBKDF2).
fn whole_bytes(length: Option<u32>) -> Result<usize> {
    match length {
        Some(l) if l % 8 == 0 => Ok(l as usize / 8),
        Some(l) => fail!(Operation, "The length must be a multiple of 8, not {l}"),
        None => fail!(Operation, "The length must be given"),
    }
}

/// The first `length` bits of `secret`, the rest of the last byte zeroed.
fn truncate(mut secret: Zeroizing<Vec<u8>>, length: Option<u32>) -> Result<Zeroizing<Vec<u8>>> {
    let Some(length) = length else {
        return Ok(secret);
    };
    let bits = secret.len() * 8;
    if length as usize > bits {
        return fail!(
            Operation,
            "The length {length} is more than the {bits} bits the secret has"
        );
    }
    secret.truncate((length as usize).div_ceil(8));
    if length % 8 != 0 {
        if let Some(last) = secret.last_mut() {
            *last &= 0xffu8 << (8 - length % 8);
        }
    }
    Ok(secret)
}

fn ecdh(key: &Key, public: &Key) -> Result<Zeroizing<Vec<u8>>> {
    let (Material::EcPrivate { key: sk, .. }, Material::EcPublic(pk)) =
        (&key.material, &public.material)
    else {
        return fail!(InvalidAccess, "ECDH needs a private key and a public key");
    };
    let secret = match (sk, pk) {
        (EcPrivate::P256(s), EcPublic::P256(p)) => {
            p256::ecdh::diffie_hellman(s.to_nonzero_scalar(), p.as_affine())
                .raw_secret_bytes()
                .to_vec()
        }
        (EcPrivate::P384(s), EcPublic::P384(p)) => {
            p384::ecdh::diffie_hellman(s.to_nonzero_scalar(), p.as_affine())
                .raw_secret_bytes()
                .to_vec()
        }
        (EcPrivate::P521(s), EcPublic::P521(p)) => {
            p521::ecdh::diffie_hellman(s.to_nonzero_scalar(), p.as_affine())
                .raw_secret_bytes()
                .to_vec()
        }
        _ => {
            return fail!(
                InvalidAccess,
                "The public key's curve is {}, not {}",
                pk.curve().name(),
                sk.curve().name()
            );
        }
    };
    Ok(Zeroizing::new(secret))
}

fn x25519(key: &Key, public: &Key) -> Result<Zeroizing<Vec<u8>>> {
    let (Material::X25519Private(sk), Material::X25519Public(pk)) =
        (&key.material, &public.material)
    else {
        return fail!(InvalidAccess, "X25519 needs a private key and a public key");
    };
    let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(*pk));
    if !shared.was_contributory() {
        return fail!(
            Operation,
            "X25519: the shared secret is all zeros (a small-order public key)"
        );
    }
    Ok(Zeroizing::new(shared.as_bytes().to_vec()))
}

/// PBKDF2 with this many iterations or more leaves the shard: a SHA-256
/// iteration costs ~0.24 µs of CPU here (bench/RESULTS.md §11), so this is
/// ~1 ms (more with SHA-384/512), the most a shard should stall for one
/// operation.
pub(crate) const PBKDF2_OFF_SHARD_ITERATIONS: u32 = 4_000;

/// Whether PBKDF2 with these parameters is slow enough to leave the shard.
pub(crate) fn is_slow(p: &Params) -> bool {
    p.alg == Some(Alg::Pbkdf2) && p.iterations.unwrap_or(0) >= PBKDF2_OFF_SHARD_ITERATIONS
}
