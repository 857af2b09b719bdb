//! `encrypt` / `decrypt` (and the `wrapKey` / `unwrapKey` ciphers): AES-GCM,
//! AES-CBC, AES-CTR, AES-KW and RSA-OAEP.
//!
//! AES-GCM with a 96-bit IV and a 128-bit tag on a 128- or 256-bit key
//! (what nearly everyone uses) runs on ring; other IVs (16 bytes), tag
//! lengths and AES-192 on RustCrypto's `aes-gcm`.

use aes::cipher::{BlockEncrypt, KeyInit as _, generic_array::GenericArray};
use aes_gcm::aead::AeadInPlace;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};

use super::algorithm::{Alg, Hash, usage};
use super::error::fail;
use super::key::{Key, Material};
use super::params::Params;
use super::{CryptoError, Result};

/// `encrypt(params, key, data)`.
pub(crate) fn encrypt(key: &Key, p: &Params, data: &[u8]) -> Result<Vec<u8>> {
    key.check(p.alg()?, usage::ENCRYPT)?;
    crypt(key, p, data, true)
}

/// `decrypt(params, key, data)`.
pub(crate) fn decrypt(key: &Key, p: &Params, data: &[u8]) -> Result<Vec<u8>> {
    key.check(p.alg()?, usage::DECRYPT)?;
    crypt(key, p, data, false)
}

/// The cipher itself, once the key's usages were checked (by the caller:
/// `encrypt`/`decrypt`, or `wrapKey`/`unwrapKey`).
pub(crate) fn crypt(key: &Key, p: &Params, data: &[u8], forward: bool) -> Result<Vec<u8>> {
    match p.alg()? {
        Alg::AesCbc => aes_cbc(key.secret()?, Params::need(&p.iv, "iv")?, data, forward),
        Alg::AesCtr => aes_ctr(
            key.secret()?,
            Params::need(&p.iv, "counter")?,
            *Params::need(&p.length, "length")?,
            data,
        ),
        Alg::AesGcm => {
            let aad = p.aad.as_deref().unwrap_or_default();
            let tag_bits = p.tag_length.unwrap_or(128);
            let iv = Params::need(&p.iv, "iv")?;
            if forward {
                aes_gcm_seal(key.secret()?, iv, aad, tag_bits, data)
            } else {
                aes_gcm_open(key.secret()?, iv, aad, tag_bits, data)
            }
        }
        Alg::AesKw => aes_kw(key.secret()?, data, forward),
        Alg::RsaOaep => rsa_oaep(key, p.aad.as_deref(), data, forward),
        other => fail!(NotSupported, "{} cannot encrypt or decrypt", other.name()),
    }
}

/// An AES block cipher of the key's size.
enum Aes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl Aes {
    fn new(key: &[u8]) -> Result<Self> {
        Ok(match key.len() {
            16 => Self::A128(aes::Aes128::new(GenericArray::from_slice(key))),
            24 => Self::A192(aes::Aes192::new(GenericArray::from_slice(key))),
            32 => Self::A256(aes::Aes256::new(GenericArray::from_slice(key))),
            n => return fail!(Operation, "Invalid AES key length: {} bits", n * 8),
        })
    }

    fn encrypt_blocks(&self, blocks: &mut [aes::Block]) {
        match self {
            Self::A128(c) => c.encrypt_blocks(blocks),
            Self::A192(c) => c.encrypt_blocks(blocks),
            Self::A256(c) => c.encrypt_blocks(blocks),
        }
    }
}

fn aes_cbc(key: &[u8], iv: &[u8], data: &[u8], forward: bool) -> Result<Vec<u8>> {
    if iv.len() != 16 {
        return fail!(
            Operation,
            "AES-CBC: the iv must be 16 bytes, not {}",
            iv.len()
        );
    }
    let bad_key = |_| CryptoError::Operation("Invalid AES key".into());
    let bad_pad = |_| CryptoError::Operation("AES-CBC: the data is not correctly padded".into());
    macro_rules! run {
        ($aes:ty) => {
            if forward {
                Ok(cbc::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(bad_key)?
                    .encrypt_padded_vec_mut::<Pkcs7>(data))
            } else {
                cbc::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(bad_key)?
                    .decrypt_padded_vec_mut::<Pkcs7>(data)
                    .map_err(bad_pad)
            }
        };
    }
    match key.len() {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        32 => run!(aes::Aes256),
        n => fail!(Operation, "Invalid AES key length: {} bits", n * 8),
    }
}

/// AES-CTR as WebCrypto defines it: the rightmost `length` bits of the
/// counter block count up (and wrap within those bits); running past
/// 2^`length` blocks would reuse a counter, which is an error.
fn aes_ctr(key: &[u8], counter: &[u8], length: u32, data: &[u8]) -> Result<Vec<u8>> {
    let Ok(counter) = <[u8; 16]>::try_from(counter) else {
        return fail!(
            Operation,
            "AES-CTR: the counter must be 16 bytes, not {}",
            counter.len()
        );
    };
    if length == 0 || length > 128 {
        return fail!(
            Operation,
            "AES-CTR: length must be between 1 and 128, not {length}"
        );
    }
    let blocks = data.len().div_ceil(16) as u128;
    if length < 128 && blocks > 1u128 << length {
        return fail!(
            Operation,
            "AES-CTR: the data is too long for a {length}-bit counter"
        );
    }
    let cipher = Aes::new(key)?;
    let mask = if length == 128 {
        u128::MAX
    } else {
        (1u128 << length) - 1
    };
    let start = u128::from_be_bytes(counter);
    let fixed = start & !mask;
    let mut low = start & mask;
    let mut out = data.to_vec();
    const BATCH: usize = 8;
    let mut stream = [aes::Block::default(); BATCH];
    for chunk in out.chunks_mut(16 * BATCH) {
        let n = chunk.len().div_ceil(16);
        for block in stream.iter_mut().take(n) {
            block.copy_from_slice(&(fixed | low).to_be_bytes());
            low = low.wrapping_add(1) & mask;
        }
        cipher.encrypt_blocks(&mut stream[..n]);
        for (i, b) in chunk.iter_mut().enumerate() {
            *b ^= stream[i / 16][i % 16];
        }
    }
    Ok(out)
}

fn check_tag_bits(tag_bits: u32) -> Result<usize> {
    match tag_bits {
        32 | 64 | 96 | 104 | 112 | 120 | 128 => Ok(tag_bits as usize / 8),
        other => fail!(Operation, "AES-GCM: {other} is not a valid tagLength"),
    }
}

/// ring's AES-GCM for the common case (96-bit IV, 128-bit tag, 128/256-bit key).
fn ring_gcm(key: &[u8], iv: &[u8], tag_bits: u32) -> Option<ring::aead::LessSafeKey> {
    let alg = match key.len() {
        16 => &ring::aead::AES_128_GCM,
        32 => &ring::aead::AES_256_GCM,
        _ => return None,
    };
    if iv.len() != 12 || tag_bits != 128 {
        return None;
    }
    ring::aead::UnboundKey::new(alg, key)
        .ok()
        .map(ring::aead::LessSafeKey::new)
}

/// Runs `$body` with `$c` bound to RustCrypto's AES-GCM for the key and IV
/// sizes (12 or 16-byte IVs).
macro_rules! with_gcm {
    ($key:expr, $iv:expr, |$c:ident, $nonce:ident| $body:expr) => {{
        use aes_gcm::aead::consts::{U12, U16};
        let bad = |_| CryptoError::Operation("Invalid AES key".into());
        match ($key.len(), $iv.len()) {
            (16, 12) => {
                let $c = aes_gcm::AesGcm::<aes::Aes128, U12>::new_from_slice($key).map_err(bad)?;
                let $nonce = GenericArray::from_slice($iv);
                Ok($body)
            }
            (24, 12) => {
                let $c = aes_gcm::AesGcm::<aes::Aes192, U12>::new_from_slice($key).map_err(bad)?;
                let $nonce = GenericArray::from_slice($iv);
                Ok($body)
            }
            (32, 12) => {
                let $c = aes_gcm::AesGcm::<aes::Aes256, U12>::new_from_slice($key).map_err(bad)?;
                let $nonce = GenericArray::from_slice($iv);
                Ok($body)
            }
            (16, 16) => {
                let $c = aes_gcm::AesGcm::<aes::Aes128, U16>::new_from_slice($key).map_err(bad)?;
                let $nonce = GenericArray::from_slice($iv);
                Ok($body)
            }
            (24, 16) => {
                let $c = aes_gcm::AesGcm::<aes::Aes192, U16>::new_from_slice($key).map_err(bad)?;
                let $nonce = GenericArray::from_slice($iv);
                Ok($body)
            }
            (32, 16) => {
                let $c = aes_gcm::AesGcm::<aes::Aes256, U16>::new_from_slice($key).map_err(bad)?;
                let $nonce = GenericArray::from_slice($iv);
                Ok($body)
            }
            (16 | 24 | 32, n) => fail!(
                NotSupported,
                "AES-GCM: an iv of {n} bytes is not supported (12 or 16)"
            ),
            (n, _) => fail!(Operation, "Invalid AES key length: {} bits", n * 8),
        }
    }};
}

fn aes_gcm_seal(key: &[u8], iv: &[u8], aad: &[u8], tag_bits: u32, data: &[u8]) -> Result<Vec<u8>> {
    let tag_len = check_tag_bits(tag_bits)?;
    fn failed<E>(_: E) -> CryptoError {
        CryptoError::Operation("AES-GCM encryption failed".into())
    }
    let mut out = Vec::with_capacity(data.len() + tag_len);
    out.extend_from_slice(data);
    if let Some(k) = ring_gcm(key, iv, tag_bits) {
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(iv).map_err(failed)?;
        let tag = k
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), &mut out)
            .map_err(failed)?;
        out.extend_from_slice(tag.as_ref());
        return Ok(out);
    }
    // A shorter tag is the full tag's leading bytes.
    let tag = with_gcm!(key, iv, |c, nonce| c
        .encrypt_in_place_detached(nonce, aad, &mut out)
        .map_err(failed)?)?;
    out.extend_from_slice(&tag[..tag_len]);
    Ok(out)
}

fn aes_gcm_open(key: &[u8], iv: &[u8], aad: &[u8], tag_bits: u32, data: &[u8]) -> Result<Vec<u8>> {
    let tag_len = check_tag_bits(tag_bits)?;
    if data.len() < tag_len {
        return fail!(Operation, "AES-GCM: the data is shorter than the tag");
    }
    fn failed<E>(_: E) -> CryptoError {
        CryptoError::Operation("The operation failed for an operation-specific reason".into())
    }
    let (ct, tag) = data.split_at(data.len() - tag_len);
    if let Some(k) = ring_gcm(key, iv, tag_bits) {
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(iv).map_err(failed)?;
        let mut buf = data.to_vec();
        let n = k
            .open_in_place(nonce, ring::aead::Aad::from(aad), &mut buf)
            .map_err(failed)?
            .len();
        buf.truncate(n);
        return Ok(buf);
    }
    let mut out = ct.to_vec();
    with_gcm!(key, iv, |c, nonce| {
        if tag_len == 16 {
            c.decrypt_in_place_detached(nonce, aad, &mut out, GenericArray::from_slice(tag))
                .map_err(failed)?;
        } else {
            // A truncated tag: GCM's keystream is its own inverse, so
            // "encrypting" the ciphertext gives the plaintext; encrypting
            // that again gives the full tag over the ciphertext, whose
            // leading bytes must match (compared in constant time).
            c.encrypt_in_place_detached(nonce, b"", &mut out)
                .map_err(failed)?;
            let mut again = out.clone();
            let full = c
                .encrypt_in_place_detached(nonce, aad, &mut again)
                .map_err(failed)?;
            if !super::timing_safe_equal(&full[..tag_len], tag) {
                return Err(failed(()));
            }
        }
    })?;
    Ok(out)
}

fn aes_kw(key: &[u8], data: &[u8], forward: bool) -> Result<Vec<u8>> {
    // RFC 3394 wraps two or more 64-bit blocks (and adds one).
    let least = if forward { 16 } else { 24 };
    if data.len() % 8 != 0 || data.len() < least {
        return fail!(
            Operation,
            "AES-KW: the data must be a multiple of 8 bytes, at least {least}"
        );
    }
    let failed = |_| CryptoError::Operation("AES-KW: the operation failed".into());
    macro_rules! run {
        ($kek:ty) => {{
            let kek = <$kek>::try_from(key).map_err(failed)?;
            if forward {
                kek.wrap_vec(data)
            } else {
                kek.unwrap_vec(data)
            }
            .map_err(failed)
        }};
    }
    match key.len() {
        16 => run!(aes_kw::KekAes128),
        24 => run!(aes_kw::KekAes192),
        32 => run!(aes_kw::KekAes256),
        n => fail!(Operation, "Invalid AES key length: {} bits", n * 8),
    }
}

fn oaep(hash: Hash, label: Option<&[u8]>) -> Result<rsa::Oaep> {
    let label = match label {
        None | Some([]) => None,
        Some(l) => match std::str::from_utf8(l) {
            Ok(s) => Some(s.to_string()),
            // The `rsa` crate takes labels as text.
            Err(_) => {
                return fail!(
                    NotSupported,
                    "RSA-OAEP: a label that is not UTF-8 is not supported"
                );
            }
        },
    };
    macro_rules! scheme {
        ($d:ty) => {
            match label {
                Some(l) => rsa::Oaep::new_with_label::<$d, _>(l),
                None => rsa::Oaep::new::<$d>(),
            }
        };
    }
    Ok(match hash {
        Hash::Sha1 => scheme!(sha1::Sha1),
        Hash::Sha256 => scheme!(sha2::Sha256),
        Hash::Sha384 => scheme!(sha2::Sha384),
        Hash::Sha512 => scheme!(sha2::Sha512),
    })
}

fn rsa_oaep(key: &Key, label: Option<&[u8]>, data: &[u8], forward: bool) -> Result<Vec<u8>> {
    let hash = match key.hash {
        Some(h) => h,
        None => return fail!(InvalidAccess, "The key has no hash"),
    };
    let scheme = oaep(hash, label)?;
    match (&key.material, forward) {
        (Material::RsaPublic(k), true) => k
            .encrypt(&mut rand_core::OsRng, scheme, data)
            .map_err(|e| CryptoError::Operation(format!("RSA-OAEP encryption failed: {e}"))),
        (Material::RsaPrivate(k), false) => k
            .decrypt(scheme, data)
            .map_err(|_| CryptoError::Operation("RSA-OAEP decryption failed".into())),
        _ => fail!(
            InvalidAccess,
            "RSA-OAEP needs a public key to encrypt and a private key to decrypt"
        ),
    }
}
