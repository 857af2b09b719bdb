//! [`Key`]: what a `CryptoKey` handle points to — its algorithm, type,
//! usages and extractability, and the material, which zeroes itself when
//! dropped (RustCrypto's secret types do on their own; raw secrets are
//! `Zeroizing`; ring's key pairs, built on first use and kept, are
//! [`Wiped`]).

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::Result;
use super::algorithm::{Alg, Curve, Hash, usage};
use super::error::fail;
use super::wiped::Wiped;

/// A key's `[[type]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    Secret,
    Public,
    Private,
}

impl KeyType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

/// A NIST-curve private key, with ring's signing key pair for the
/// curve's own hash once it has been used.
pub(crate) enum EcPrivate {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
}

/// A NIST-curve public key.
#[derive(Clone)]
pub(crate) enum EcPublic {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
}

impl EcPrivate {
    pub(crate) fn curve(&self) -> Curve {
        match self {
            Self::P256(_) => Curve::P256,
            Self::P384(_) => Curve::P384,
            Self::P521(_) => Curve::P521,
        }
    }

    pub(crate) fn public(&self) -> EcPublic {
        match self {
            Self::P256(k) => EcPublic::P256(k.public_key()),
            Self::P384(k) => EcPublic::P384(k.public_key()),
            Self::P521(k) => EcPublic::P521(k.public_key()),
        }
    }

    /// The private scalar, big-endian, field-length bytes.
    pub(crate) fn scalar_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Self::P256(k) => k.to_bytes().to_vec(),
            Self::P384(k) => k.to_bytes().to_vec(),
            Self::P521(k) => k.to_bytes().to_vec(),
        })
    }
}

impl EcPublic {
    pub(crate) fn curve(&self) -> Curve {
        match self {
            Self::P256(_) => Curve::P256,
            Self::P384(_) => Curve::P384,
            Self::P521(_) => Curve::P521,
        }
    }

    /// The SEC1 point, uncompressed (`04 || x || y`).
    pub(crate) fn uncompressed(&self) -> Vec<u8> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        match self {
            Self::P256(k) => k.to_encoded_point(false).as_bytes().to_vec(),
            Self::P384(k) => k.to_encoded_point(false).as_bytes().to_vec(),
            Self::P521(k) => k.to_encoded_point(false).as_bytes().to_vec(),
        }
    }

    /// A SEC1 point (compressed or not) on `curve`.
    pub(crate) fn from_sec1(curve: Curve, bytes: &[u8]) -> Result<Self> {
        let bad = |_| super::CryptoError::Data(format!("Invalid {} public key", curve.name()));
        Ok(match curve {
            Curve::P256 => Self::P256(p256::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
            Curve::P384 => Self::P384(p384::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
            Curve::P521 => Self::P521(p521::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
        })
    }
}

/// The secret part of a key.
pub(crate) enum Material {
    /// HMAC, AES, PBKDF2 and HKDF keys: bytes.
    Secret(Zeroizing<Vec<u8>>),
    RsaPrivate(Box<rsa::RsaPrivateKey>),
    RsaPublic(Box<rsa::RsaPublicKey>),
    EcPrivate {
        key: EcPrivate,
        public: EcPublic,
        /// ring's signer for (P-256, SHA-256) or (P-384, SHA-384).
        ring: OnceLock<Option<Wiped<ring::signature::EcdsaKeyPair>>>,
    },
    EcPublic(EcPublic),
    Ed25519Private {
        seed: Zeroizing<[u8; 32]>,
        public: [u8; 32],
        ring: OnceLock<Option<Wiped<ring::signature::Ed25519KeyPair>>>,
    },
    Ed25519Public([u8; 32]),
    X25519Private(x25519_dalek::StaticSecret),
    X25519Public([u8; 32]),
}

/// A key: what `CryptoKey`'s internal slots hold.
pub(crate) struct Key {
    pub(crate) alg: Alg,
    /// The hash of HMAC and RSA keys.
    pub(crate) hash: Option<Hash>,
    /// The curve of ECDSA and ECDH keys.
    pub(crate) curve: Option<Curve>,
    /// Bits of an AES or HMAC key.
    pub(crate) length: u32,
    pub(crate) kind: KeyType,
    pub(crate) extractable: bool,
    pub(crate) usages: u8,
    pub(crate) material: Material,
}

impl Key {
    /// Checks that the key is `alg`'s and may be used for `needed`
    /// (InvalidAccessError otherwise), as every operation's first steps do.
    pub(crate) fn check(&self, alg: Alg, needed: u8) -> Result<()> {
        if self.alg != alg {
            return fail!(
                InvalidAccess,
                "The key's algorithm is {}, not {}",
                self.alg.name(),
                alg.name()
            );
        }
        if self.usages & needed == 0 {
            let what = usage::names(needed).next().unwrap_or("?");
            return fail!(InvalidAccess, "The key's usages do not include \"{what}\"");
        }
        Ok(())
    }

    /// The secret bytes of a symmetric key.
    pub(crate) fn secret(&self) -> Result<&[u8]> {
        match &self.material {
            Material::Secret(b) => Ok(b),
            _ => fail!(InvalidAccess, "The key is not a secret key"),
        }
    }

    /// An RSA key's modulus length in bits and public exponent (big-endian).
    pub(crate) fn rsa_params(&self) -> Option<(u32, Vec<u8>)> {
        use rsa::traits::PublicKeyParts;
        let (n, e) = match &self.material {
            Material::RsaPrivate(k) => (k.n(), k.e()),
            Material::RsaPublic(k) => (k.n(), k.e()),
            _ => return None,
        };
        Some((n.bits() as u32, e.to_bytes_be()))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the material.
        f.debug_struct("Key")
            .field("alg", &self.alg)
            .field("kind", &self.kind)
            .field("extractable", &self.extractable)
            .field("usages", &self.usages)
            .finish_non_exhaustive()
    }
}

/// The checks every new key goes through: its usages must be ones its
/// algorithm and type allow (SyntaxError), and a secret or private key
/// needs at least one.
pub(crate) fn check_usages(alg: Alg, kind: KeyType, usages: u8) -> Result<()> {
    let allowed = match kind {
        KeyType::Public => alg.public_usages(),
        KeyType::Private => alg.private_usages(),
        KeyType::Secret => alg.public_usages() | alg.private_usages(),
    };
    if let Some(bad) = usage::names(usages & !allowed).next() {
        return fail!(
            Syntax,
            "Usage \"{bad}\" is not allowed for a {} {} key",
            alg.name(),
            kind.name()
        );
    }
    if usages == 0 && kind != KeyType::Public {
        return fail!(Syntax, "Usages cannot be empty when creating a key.");
    }
    Ok(())
}
