//! `importKey` / `exportKey` in `raw`, `pkcs8`, `spki` and `jwk`, wherever
//! the spec allows each, with the spec's checks: usages first
//! (SyntaxError), then the data (DataError), and JWK's `kty`, `alg`, `use`,
//! `key_ops` and `ext` members.
//!
//! DER comes from RustCrypto's `pkcs8`/`spki` (RSA and the NIST curves
//! through their crates' own encoders; Ed25519/X25519 as RFC 8410 says).

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use pkcs8::der::{Decode as _, Encode as _};
use pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::algorithm::{Alg, Curve, usage};
use super::error::fail;
use super::key::{EcPrivate, EcPublic, Key, KeyType, Material};
use super::params::Params;
use super::{CryptoError, Result};

/// A key format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Raw,
    Pkcs8,
    Spki,
    Jwk,
}

impl Format {
    pub(crate) fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "raw" => Self::Raw,
            "pkcs8" => Self::Pkcs8,
            "spki" => Self::Spki,
            "jwk" => Self::Jwk,
            other => return fail!(Type, "\"{other}\" is not a valid KeyFormat"),
        })
    }
}

/// Key data to import: bytes, or a JWK as JSON text.
pub(crate) enum KeyData<'a> {
    Bytes(&'a [u8]),
    Jwk(&'a str),
}

/// An exported key: bytes, or a JWK as JSON text.
pub(crate) enum Exported {
    Bytes(Zeroizing<Vec<u8>>),
    Jwk(Zeroizing<String>),
}

const OID_ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_X25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.110");

fn data_err(what: impl std::fmt::Display) -> CryptoError {
    CryptoError::Data(what.to_string())
}

fn unsupported<T>(format: Format, alg: Alg) -> Result<T> {
    fail!(
        NotSupported,
        "The {format:?} format is not supported for {} keys",
        alg.name()
    )
}

/// A parsed JWK.
struct Jwk(Map<String, Value>);

impl Jwk {
    fn parse(text: &str) -> Result<Self> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(Self(m)),
            Ok(_) => fail!(Data, "The JWK is not an object"),
            Err(e) => fail!(Data, "The JWK is not valid JSON: {e}"),
        }
    }

    fn str(&self, name: &str) -> Result<Option<&str>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => fail!(Data, "The JWK member \"{name}\" must be a string"),
        }
    }

    fn has(&self, name: &str) -> bool {
        !matches!(self.0.get(name), None | Some(Value::Null))
    }

    /// A base64url member's bytes (DataError if absent or malformed).
    fn bytes(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        let Some(s) = self.str(name)? else {
            return fail!(Data, "The JWK member \"{name}\" is missing");
        };
        B64.decode(s.trim_end_matches('='))
            .map(Zeroizing::new)
            .map_err(|_| {
                CryptoError::Data(format!("The JWK member \"{name}\" is not valid base64url"))
            })
    }

    fn uint(&self, name: &str) -> Result<rsa::BigUint> {
        Ok(rsa::BigUint::from_bytes_be(&self.bytes(name)?))
    }

    /// The checks every JWK import makes: `kty`, then `use` (when there are
    /// usages), `key_ops` (must hold every usage) and `ext`.
    fn check(&self, kty: &str, use_: &str, usages: u8, extractable: bool) -> Result<()> {
        match self.str("kty")? {
            Some(k) if k == kty => {}
            Some(k) => return fail!(Data, "The JWK's kty is \"{k}\", not \"{kty}\""),
            None => return fail!(Data, "The JWK member \"kty\" is missing"),
        }
        if usages != 0 {
            if let Some(u) = self.str("use")? {
                if u != use_ {
                    return fail!(Data, "The JWK's use is \"{u}\", not \"{use_}\"");
                }
            }
        }
        if let Some(ops) = self.0.get("key_ops").filter(|v| !v.is_null()) {
            let Value::Array(ops) = ops else {
                return fail!(Data, "The JWK member \"key_ops\" must be an array");
            };
            let mut seen = 0u8;
            for op in ops {
                let Value::String(op) = op else {
                    return fail!(Data, "The JWK's key_ops must be strings");
                };
                if let Some(bit) = usage::from_name(op) {
                    if seen & bit != 0 {
                        return fail!(Data, "The JWK's key_ops lists \"{op}\" twice");
                    }
                    seen |= bit;
                }
            }
            if let Some(missing) = usage::names(usages & !seen).next() {
                return fail!(Data, "The JWK's key_ops does not include \"{missing}\"");
            }
        }
        match self.0.get("ext") {
            Some(Value::Bool(false)) if extractable => {
                fail!(
                    Data,
                    "The JWK is not extractable (ext is false) but the key would be"
                )
            }
            None | Some(Value::Bool(_)) | Some(Value::Null) => Ok(()),
            Some(_) => fail!(Data, "The JWK member \"ext\" must be a boolean"),
        }
    }

    /// Checks `alg` against the one expected (absent is fine).
    fn check_alg(&self, expected: &[&str]) -> Result<()> {
        match self.str("alg")? {
            Some(a) if !expected.contains(&a) => {
                fail!(
                    Data,
                    "The JWK's alg is \"{a}\", expected \"{}\"",
                    expected[0]
                )
            }
            _ => Ok(()),
        }
    }
}

/// Usage check made before any data is read (SyntaxError).
fn allow(alg: Alg, kind: KeyType, usages: u8) -> Result<()> {
    let allowed = match kind {
        KeyType::Public => alg.public_usages(),
        KeyType::Private => alg.private_usages(),
        KeyType::Secret => alg.public_usages() | alg.private_usages(),
    };
    match usage::names(usages & !allowed).next() {
        Some(bad) => fail!(
            Syntax,
            "Usage \"{bad}\" is not allowed for a {} {} key",
            alg.name(),
            kind.name()
        ),
        None => Ok(()),
    }
}

/// `importKey(format, data, params, extractable, usages)`.
pub(crate) fn import(
    format: Format,
    data: KeyData,
    p: &Params,
    extractable: bool,
    usages: u8,
) -> Result<Key> {
    let alg = p.alg()?;
    let jwk = match (&data, format) {
        (KeyData::Jwk(text), Format::Jwk) => Some(Jwk::parse(text)?),
        (KeyData::Bytes(_), Format::Jwk) => return fail!(Type, "JWK key data must be an object"),
        (KeyData::Jwk(_), _) => {
            return fail!(
                Type,
                "Key data must be a BufferSource for the {format:?} format"
            );
        }
        _ => None,
    };
    let bytes = match data {
        KeyData::Bytes(b) => b,
        KeyData::Jwk(_) => &[][..],
    };
    let key = |kind, hash, curve, length, material| Key {
        alg,
        hash,
        curve,
        length,
        kind,
        extractable,
        usages,
        material,
    };
    let key = match alg {
        Alg::Hmac
        | Alg::AesCtr
        | Alg::AesCbc
        | Alg::AesGcm
        | Alg::AesKw
        | Alg::Pbkdf2
        | Alg::Hkdf => {
            allow(alg, KeyType::Secret, usages)?;
            let secret = match (format, &jwk) {
                (Format::Raw, _) => Zeroizing::new(bytes.to_vec()),
                (Format::Jwk, Some(j)) if alg == Alg::Hmac || alg.is_aes() => {
                    j.check(
                        "oct",
                        if alg == Alg::Hmac { "sig" } else { "enc" },
                        usages,
                        extractable,
                    )?;
                    j.bytes("k")?
                }
                _ => return unsupported(format, alg),
            };
            let bits = secret.len() as u32 * 8;
            let mut hash = None;
            let length = match alg {
                Alg::Hmac => {
                    let h = p.hash()?;
                    hash = Some(h);
                    if let Some(j) = &jwk {
                        j.check_alg(&[&format!("HS{}", h.jwk_suffix())])?;
                    }
                    if bits == 0 {
                        return fail!(Data, "HMAC: the key must not be empty");
                    }
                    match p.length {
                        None => bits,
                        Some(l) if l > bits || l <= bits - 8 => {
                            return fail!(
                                Data,
                                "HMAC: length {l} does not fit a key of {bits} bits"
                            );
                        }
                        Some(l) => l,
                    }
                }
                Alg::Pbkdf2 | Alg::Hkdf => {
                    if extractable {
                        return fail!(Syntax, "{} keys cannot be extractable", alg.name());
                    }
                    bits
                }
                _ => {
                    if !matches!(bits, 128 | 192 | 256) {
                        return fail!(
                            Data,
                            "AES key length must be 128, 192 or 256 bits, not {bits}"
                        );
                    }
                    if let Some(j) = &jwk {
                        let mode = &alg.name()[4..];
                        j.check_alg(&[&format!("A{bits}{mode}")])?;
                    }
                    bits
                }
            };
            key(
                KeyType::Secret,
                hash,
                None,
                length,
                Material::Secret(secret),
            )
        }
        Alg::RsassaPkcs1 | Alg::RsaPss | Alg::RsaOaep => {
            let hash = p.hash()?;
            let (kind, material) = match format {
                Format::Spki => {
                    allow(alg, KeyType::Public, usages)?;
                    let k = rsa::RsaPublicKey::from_public_key_der(bytes).map_err(data_err)?;
                    (KeyType::Public, Material::RsaPublic(Box::new(k)))
                }
                Format::Pkcs8 => {
                    allow(alg, KeyType::Private, usages)?;
                    let k = rsa::RsaPrivateKey::from_pkcs8_der(bytes).map_err(data_err)?;
                    k.validate().map_err(data_err)?;
                    (KeyType::Private, Material::RsaPrivate(Box::new(k)))
                }
                Format::Jwk => {
                    let j = jwk.as_ref().expect("parsed above");
                    let private = j.has("d");
                    allow(
                        alg,
                        if private {
                            KeyType::Private
                        } else {
                            KeyType::Public
                        },
                        usages,
                    )?;
                    j.check(
                        "RSA",
                        if alg == Alg::RsaOaep { "enc" } else { "sig" },
                        usages,
                        extractable,
                    )?;
                    let s = hash.jwk_suffix();
                    let expected = match alg {
                        Alg::RsassaPkcs1 => format!("RS{s}"),
                        Alg::RsaPss => format!("PS{s}"),
                        _ if s == "1" => "RSA-OAEP".to_string(),
                        _ => format!("RSA-OAEP-{s}"),
                    };
                    j.check_alg(&[&expected])?;
                    rsa_from_jwk(j, private)?
                }
                Format::Raw => return unsupported(format, alg),
            };
            key(kind, Some(hash), None, 0, material)
        }
        Alg::Ecdsa | Alg::Ecdh => {
            let curve = Curve::from_name_checked(p.curve)?;
            let (kind, material) = match format {
                Format::Raw => {
                    allow(alg, KeyType::Public, usages)?;
                    (
                        KeyType::Public,
                        Material::EcPublic(EcPublic::from_sec1(curve, bytes)?),
                    )
                }
                Format::Spki => {
                    allow(alg, KeyType::Public, usages)?;
                    let bad = |e| data_err(format!("Invalid {} SPKI: {e}", curve.name()));
                    let k = match curve {
                        Curve::P256 => EcPublic::P256(
                            p256::PublicKey::from_public_key_der(bytes).map_err(bad)?,
                        ),
                        Curve::P384 => EcPublic::P384(
                            p384::PublicKey::from_public_key_der(bytes).map_err(bad)?,
                        ),
                        Curve::P521 => EcPublic::P521(
                            p521::PublicKey::from_public_key_der(bytes).map_err(bad)?,
                        ),
                    };
                    (KeyType::Public, Material::EcPublic(k))
                }
                Format::Pkcs8 => {
                    allow(alg, KeyType::Private, usages)?;
                    let bad = |e| data_err(format!("Invalid {} PKCS #8: {e}", curve.name()));
                    let k = match curve {
                        Curve::P256 => {
                            EcPrivate::P256(p256::SecretKey::from_pkcs8_der(bytes).map_err(bad)?)
                        }
                        Curve::P384 => {
                            EcPrivate::P384(p384::SecretKey::from_pkcs8_der(bytes).map_err(bad)?)
                        }
                        Curve::P521 => {
                            EcPrivate::P521(p521::SecretKey::from_pkcs8_der(bytes).map_err(bad)?)
                        }
                    };
                    (KeyType::Private, ec_private(k))
                }
                Format::Jwk => {
                    let j = jwk.as_ref().expect("parsed above");
                    let private = j.has("d");
                    allow(
                        alg,
                        if private {
                            KeyType::Private
                        } else {
                            KeyType::Public
                        },
                        usages,
                    )?;
                    j.check(
                        "EC",
                        if alg == Alg::Ecdsa { "sig" } else { "enc" },
                        usages,
                        extractable,
                    )?;
                    match j.str("crv")? {
                        Some(c) if c == curve.name() => {}
                        other => {
                            return fail!(
                                Data,
                                "The JWK's crv is {other:?}, not \"{}\"",
                                curve.name()
                            );
                        }
                    }
                    if alg == Alg::Ecdsa {
                        j.check_alg(&[curve.jwk_alg()])?;
                    }
                    ec_from_jwk(j, curve, private)?
                }
            };
            key(kind, None, Some(curve), 0, material)
        }
        Alg::Ed25519 | Alg::X25519 => {
            let (kty_use, oid) = if alg == Alg::Ed25519 {
                ("sig", OID_ED25519)
            } else {
                ("enc", OID_X25519)
            };
            let (kind, material) = match format {
                Format::Raw => {
                    allow(alg, KeyType::Public, usages)?;
                    (KeyType::Public, okp_public(alg, bytes)?)
                }
                Format::Spki => {
                    allow(alg, KeyType::Public, usages)?;
                    let spki = spki::SubjectPublicKeyInfoRef::from_der(bytes).map_err(data_err)?;
                    if spki.algorithm.oid != oid || spki.algorithm.parameters.is_some() {
                        return fail!(Data, "The SPKI is not an {} key", alg.name());
                    }
                    let raw = spki
                        .subject_public_key
                        .as_bytes()
                        .ok_or_else(|| data_err("Invalid SPKI key bits"))?;
                    (KeyType::Public, okp_public(alg, raw)?)
                }
                Format::Pkcs8 => {
                    allow(alg, KeyType::Private, usages)?;
                    let info = pkcs8::PrivateKeyInfo::from_der(bytes).map_err(data_err)?;
                    if info.algorithm.oid != oid || info.algorithm.parameters.is_some() {
                        return fail!(Data, "The PKCS #8 data is not an {} key", alg.name());
                    }
                    // CurvePrivateKey ::= OCTET STRING (32 bytes).
                    let inner = pkcs8::der::asn1::OctetStringRef::from_der(info.private_key)
                        .map_err(data_err)?;
                    (KeyType::Private, okp_private(alg, inner.as_bytes())?)
                }
                Format::Jwk => {
                    let j = jwk.as_ref().expect("parsed above");
                    let private = j.has("d");
                    allow(
                        alg,
                        if private {
                            KeyType::Private
                        } else {
                            KeyType::Public
                        },
                        usages,
                    )?;
                    j.check("OKP", kty_use, usages, extractable)?;
                    match j.str("crv")? {
                        Some(c) if c == alg.name() => {}
                        other => {
                            return fail!(
                                Data,
                                "The JWK's crv is {other:?}, not \"{}\"",
                                alg.name()
                            );
                        }
                    }
                    if alg == Alg::Ed25519 {
                        j.check_alg(&["Ed25519", "EdDSA"])?;
                    }
                    let x = j.bytes("x")?;
                    if private {
                        let material = okp_private(alg, &j.bytes("d")?)?;
                        if okp_public_bytes(&material).as_ref().map(|p| &p[..]) != Some(&x[..]) {
                            return fail!(Data, "The JWK's x is not the public key of its d");
                        }
                        (KeyType::Private, material)
                    } else {
                        (KeyType::Public, okp_public(alg, &x)?)
                    }
                }
            };
            key(kind, None, None, 0, material)
        }
    };
    if key.usages == 0 && key.kind != KeyType::Public {
        return fail!(Syntax, "Usages cannot be empty when creating a key.");
    }
    Ok(key)
}

pub(crate) fn ec_private(k: EcPrivate) -> Material {
    let public = k.public();
    Material::EcPrivate {
        key: k,
        public,
        ring: OnceLock::new(),
    }
}

fn okp_public(alg: Alg, raw: &[u8]) -> Result<Material> {
    let Ok(raw) = <[u8; 32]>::try_from(raw) else {
        return fail!(
            Data,
            "An {} public key is 32 bytes, not {}",
            alg.name(),
            raw.len()
        );
    };
    Ok(if alg == Alg::Ed25519 {
        Material::Ed25519Public(raw)
    } else {
        Material::X25519Public(raw)
    })
}

pub(crate) fn okp_private(alg: Alg, raw: &[u8]) -> Result<Material> {
    let Ok(raw) = <[u8; 32]>::try_from(raw) else {
        return fail!(
            Data,
            "An {} private key is 32 bytes, not {}",
            alg.name(),
            raw.len()
        );
    };
    let seed = Zeroizing::new(raw);
    Ok(if alg == Alg::Ed25519 {
        let public = super::sign::ed25519_public(&seed)?;
        Material::Ed25519Private {
            seed,
            public,
            ring: OnceLock::new(),
        }
    } else {
        Material::X25519Private(x25519_dalek::StaticSecret::from(*seed))
    })
}

fn okp_public_bytes(m: &Material) -> Option<[u8; 32]> {
    match m {
        Material::Ed25519Private { public, .. }
        | Material::Ed25519Public(public)
        | Material::X25519Public(public) => Some(*public),
        Material::X25519Private(s) => Some(x25519_dalek::PublicKey::from(s).to_bytes()),
        _ => None,
    }
}

fn rsa_from_jwk(j: &Jwk, private: bool) -> Result<(KeyType, Material)> {
    let n = j.uint("n")?;
    let e = j.uint("e")?;
    if !private {
        let k = rsa::RsaPublicKey::new(n, e).map_err(data_err)?;
        return Ok((KeyType::Public, Material::RsaPublic(Box::new(k))));
    }
    if j.has("oth") {
        return fail!(
            NotSupported,
            "RSA keys with more than two primes are not supported"
        );
    }
    let d = j.uint("d")?;
    let crt = ["p", "q", "dp", "dq", "qi"];
    let given = crt.iter().filter(|m| j.has(m)).count();
    let primes = match given {
        0 => Vec::new(),
        5 => vec![j.uint("p")?, j.uint("q")?],
        _ => {
            return fail!(
                Data,
                "The JWK must have all of p, q, dp, dq and qi, or none"
            );
        }
    };
    let k = rsa::RsaPrivateKey::from_components(n, e, d, primes).map_err(data_err)?;
    if given == 5 {
        let matches = k.dp() == Some(&j.uint("dp")?)
            && k.dq() == Some(&j.uint("dq")?)
            && k.crt_coefficient() == Some(j.uint("qi")?);
        if !matches {
            return fail!(Data, "The JWK's dp, dq or qi do not match its primes");
        }
    }
    Ok((KeyType::Private, Material::RsaPrivate(Box::new(k))))
}

fn ec_from_jwk(j: &Jwk, curve: Curve, private: bool) -> Result<(KeyType, Material)> {
    let n = curve.field_len();
    let x = j.bytes("x")?;
    let y = j.bytes("y")?;
    if x.len() != n || y.len() != n {
        return fail!(
            Data,
            "The JWK's x and y must be {n} bytes for {}",
            curve.name()
        );
    }
    let mut point = Vec::with_capacity(1 + 2 * n);
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let public = EcPublic::from_sec1(curve, &point)?;
    if !private {
        return Ok((KeyType::Public, Material::EcPublic(public)));
    }
    let d = j.bytes("d")?;
    if d.len() != n {
        return fail!(Data, "The JWK's d must be {n} bytes for {}", curve.name());
    }
    let bad = |_| data_err("Invalid EC private key");
    let k = match curve {
        Curve::P256 => EcPrivate::P256(p256::SecretKey::from_slice(&d).map_err(bad)?),
        Curve::P384 => EcPrivate::P384(p384::SecretKey::from_slice(&d).map_err(bad)?),
        Curve::P521 => EcPrivate::P521(p521::SecretKey::from_slice(&d).map_err(bad)?),
    };
    if k.public().uncompressed() != point {
        return fail!(Data, "The JWK's x and y are not the public key of its d");
    }
    Ok((KeyType::Private, ec_private(k)))
}

/// `exportKey(format, key)`: NotSupportedError for a format the algorithm
/// does not have, InvalidAccessError for a key that is not extractable or
/// of the wrong type for the format.
pub(crate) fn export(format: Format, key: &Key) -> Result<Exported> {
    if matches!(key.alg, Alg::Pbkdf2 | Alg::Hkdf) {
        return fail!(NotSupported, "{} keys cannot be exported", key.alg.name());
    }
    if !key.extractable {
        return fail!(InvalidAccess, "The key is not extractable");
    }
    let wrong_type = || {
        fail!(
            InvalidAccess,
            "A {} key cannot be exported as {format:?}",
            key.kind.name()
        )
    };
    let der = |r: std::result::Result<Vec<u8>, String>| {
        r.map(|v| Exported::Bytes(Zeroizing::new(v)))
            .map_err(|e| CryptoError::Operation(format!("Encoding the key failed: {e}")))
    };
    match (format, &key.material) {
        (Format::Jwk, _) => export_jwk(key).map(|s| Exported::Jwk(Zeroizing::new(s))),
        (Format::Raw, Material::Secret(b)) => Ok(Exported::Bytes(b.clone())),
        (Format::Raw, Material::EcPublic(k)) => {
            Ok(Exported::Bytes(Zeroizing::new(k.uncompressed())))
        }
        (Format::Raw, Material::Ed25519Public(k) | Material::X25519Public(k)) => {
            Ok(Exported::Bytes(Zeroizing::new(k.to_vec())))
        }
        (Format::Spki, Material::RsaPublic(k)) => der(k
            .to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|e| e.to_string())),
        (Format::Spki, Material::EcPublic(k)) => der(match k {
            EcPublic::P256(k) => k.to_public_key_der(),
            EcPublic::P384(k) => k.to_public_key_der(),
            EcPublic::P521(k) => k.to_public_key_der(),
        }
        .map(|d| d.into_vec())
        .map_err(|e| e.to_string())),
        (Format::Spki, Material::Ed25519Public(k) | Material::X25519Public(k)) => {
            let oid = if key.alg == Alg::Ed25519 {
                OID_ED25519
            } else {
                OID_X25519
            };
            let spki = spki::SubjectPublicKeyInfoRef {
                algorithm: spki::AlgorithmIdentifier {
                    oid,
                    parameters: None,
                },
                subject_public_key: pkcs8::der::asn1::BitStringRef::from_bytes(k)
                    .map_err(|e| CryptoError::Operation(e.to_string()))?,
            };
            der(spki.to_der().map_err(|e| e.to_string()))
        }
        (Format::Pkcs8, Material::RsaPrivate(k)) => der(k
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string())),
        (Format::Pkcs8, Material::EcPrivate { key: k, .. }) => der(match k {
            EcPrivate::P256(k) => k.to_pkcs8_der(),
            EcPrivate::P384(k) => k.to_pkcs8_der(),
            EcPrivate::P521(k) => k.to_pkcs8_der(),
        }
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| e.to_string())),
        (Format::Pkcs8, Material::Ed25519Private { seed, .. }) => okp_pkcs8(OID_ED25519, &seed[..]),
        (Format::Pkcs8, Material::X25519Private(s)) => {
            okp_pkcs8(OID_X25519, &Zeroizing::new(s.to_bytes())[..])
        }
        (Format::Spki | Format::Pkcs8, Material::Secret(_)) => unsupported(format, key.alg),
        (Format::Raw, Material::RsaPublic(_)) => unsupported(format, key.alg),
        _ => wrong_type(),
    }
}

/// RFC 8410's PKCS #8 for a curve25519 private key.
fn okp_pkcs8(oid: pkcs8::ObjectIdentifier, raw: &[u8]) -> Result<Exported> {
    let fail =
        |e: pkcs8::der::Error| CryptoError::Operation(format!("Encoding the key failed: {e}"));
    let inner = Zeroizing::new(
        pkcs8::der::asn1::OctetStringRef::new(raw)
            .map_err(fail)?
            .to_der()
            .map_err(fail)?,
    );
    let info = pkcs8::PrivateKeyInfo {
        algorithm: spki::AlgorithmIdentifier {
            oid,
            parameters: None,
        },
        private_key: &inner,
        public_key: None,
    };
    Ok(Exported::Bytes(Zeroizing::new(
        info.to_der().map_err(fail)?,
    )))
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(B64.encode(bytes))
}

fn b64_uint(n: &rsa::BigUint) -> Value {
    b64(&Zeroizing::new(n.to_bytes_be()))
}

fn export_jwk(key: &Key) -> Result<String> {
    let mut m = Map::new();
    let set = |m: &mut Map<String, Value>, k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    match &key.material {
        Material::Secret(b) => {
            set(&mut m, "kty", "oct".into());
            set(&mut m, "k", b64(b));
            let alg = match key.alg {
                Alg::Hmac => format!("HS{}", key.hash.map_or("", |h| h.jwk_suffix())),
                a => format!("A{}{}", b.len() * 8, &a.name()[4..]),
            };
            set(&mut m, "alg", alg.into());
        }
        Material::RsaPublic(_) | Material::RsaPrivate(_) => {
            set(&mut m, "kty", "RSA".into());
            let s = key.hash.map_or("", |h| h.jwk_suffix());
            let alg = match key.alg {
                Alg::RsassaPkcs1 => format!("RS{s}"),
                Alg::RsaPss => format!("PS{s}"),
                _ if s == "1" => "RSA-OAEP".into(),
                _ => format!("RSA-OAEP-{s}"),
            };
            set(&mut m, "alg", alg.into());
            match &key.material {
                Material::RsaPublic(k) => {
                    set(&mut m, "n", b64_uint(k.n()));
                    set(&mut m, "e", b64_uint(k.e()));
                }
                Material::RsaPrivate(k) => {
                    set(&mut m, "n", b64_uint(k.n()));
                    set(&mut m, "e", b64_uint(k.e()));
                    set(&mut m, "d", b64_uint(k.d()));
                    let primes = k.primes();
                    if primes.len() != 2 {
                        return fail!(
                            NotSupported,
                            "RSA keys with more than two primes cannot be exported"
                        );
                    }
                    set(&mut m, "p", b64_uint(&primes[0]));
                    set(&mut m, "q", b64_uint(&primes[1]));
                    let missing =
                        || CryptoError::Operation("The key's CRT values are missing".into());
                    set(&mut m, "dp", b64_uint(k.dp().ok_or_else(missing)?));
                    set(&mut m, "dq", b64_uint(k.dq().ok_or_else(missing)?));
                    set(
                        &mut m,
                        "qi",
                        b64_uint(&k.crt_coefficient().ok_or_else(missing)?),
                    );
                }
                _ => unreachable!(),
            }
        }
        Material::EcPublic(_) | Material::EcPrivate { .. } => {
            let (public, d) = match &key.material {
                Material::EcPublic(p) => (p.clone(), None),
                Material::EcPrivate { key: k, public, .. } => {
                    (public.clone(), Some(k.scalar_bytes()))
                }
                _ => unreachable!(),
            };
            let curve = public.curve();
            let n = curve.field_len();
            let point = public.uncompressed();
            set(&mut m, "kty", "EC".into());
            set(&mut m, "crv", curve.name().into());
            set(&mut m, "x", b64(&point[1..1 + n]));
            set(&mut m, "y", b64(&point[1 + n..]));
            if let Some(d) = d {
                set(&mut m, "d", b64(&d));
            }
        }
        Material::Ed25519Public(_)
        | Material::Ed25519Private { .. }
        | Material::X25519Public(_)
        | Material::X25519Private(_) => {
            set(&mut m, "kty", "OKP".into());
            set(&mut m, "crv", key.alg.name().into());
            if key.alg == Alg::Ed25519 {
                set(&mut m, "alg", "Ed25519".into());
            }
            match &key.material {
                Material::Ed25519Public(x) | Material::X25519Public(x) => set(&mut m, "x", b64(x)),
                Material::Ed25519Private { seed, public, .. } => {
                    set(&mut m, "x", b64(public));
                    set(&mut m, "d", b64(&seed[..]));
                }
                Material::X25519Private(s) => {
                    set(
                        &mut m,
                        "x",
                        b64(x25519_dalek::PublicKey::from(s).as_bytes()),
                    );
                    set(&mut m, "d", b64(&Zeroizing::new(s.to_bytes())[..]));
                }
                _ => unreachable!(),
            }
        }
    }
    set(
        &mut m,
        "key_ops",
        Value::Array(usage::names(key.usages).map(Value::from).collect()),
    );
    set(&mut m, "ext", Value::Bool(key.extractable));
    let text = serde_json::to_string(&m).map_err(|e| CryptoError::Operation(e.to_string()));
    // The map's strings held the key; they go with it (serde_json's
    // values are not zeroized, so clear what we can).
    for (_, v) in m.iter_mut() {
        if let Value::String(s) = v {
            zeroize::Zeroize::zeroize(s);
        }
    }
    text
}
