#!/usr/bin/env python3
"""WebCrypto round trips between ringworker and Python's `cryptography`.

Usage: webcrypto_interop.py URL  (URL serves tests/scripts/webcrypto-rpc.js)

For every algorithm a key or signature is made on one side and checked on
the other: Python's keys are imported (pkcs8, spki, raw, jwk) and used by
ringworker; ringworker's keys are exported and used by Python. Prints
"webcrypto interop: N checks ok" and exits 0, or raises at the first mismatch.
"""
import base64
import json
import os
import sys
import urllib.request

from cryptography.hazmat.primitives import hashes, hmac, serialization, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives import padding as sym_padding

URL = sys.argv[1]
checks = 0


def b(data):
    return {"$b64": base64.b64encode(data).decode()}


def unb(v):
    return base64.b64decode(v["$b64"])


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def call(*calls):
    body = json.dumps({"calls": list(calls)}).encode()
    req = urllib.request.Request(URL, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        out = json.loads(r.read())
    for c, o in zip(calls, out):
        if not o["ok"]:
            raise AssertionError(f"{c['method']} failed: {o['error']}: {o['message']}")
    return out


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def der(key, private):
    if private:
        return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


HASHES = {"SHA-1": hashes.SHA1, "SHA-256": hashes.SHA256, "SHA-384": hashes.SHA384, "SHA-512": hashes.SHA512}
msg = os.urandom(100)

# --- HMAC: Python's MAC verifies there; ringworker's is Python's.
for h in HASHES:
    k = os.urandom(32)
    mac = hmac.HMAC(k, HASHES[h]())
    mac.update(msg)
    expected = mac.finalize()
    alg = {"name": "HMAC", "hash": h}
    out = call(
        {"method": "importKey", "args": ["raw", b(k), alg, False, ["sign", "verify"]], "save": "k"},
        {"method": "sign", "args": ["HMAC", {"$key": "k"}, b(msg)]},
        {"method": "verify", "args": ["HMAC", {"$key": "k"}, b(expected), b(msg)]},
    )
    check(unb(out[1]["value"]) == expected, f"HMAC {h}")
    check(out[2]["value"] is True, f"HMAC verify {h}")

# --- ECDSA on every curve, both directions, pkcs8/spki/jwk.
CURVES = {"P-256": (ec.SECP256R1, "SHA-256", 32), "P-384": (ec.SECP384R1, "SHA-384", 48), "P-521": (ec.SECP521R1, "SHA-512", 66)}
for name, (curve, h, n) in CURVES.items():
    priv = ec.generate_private_key(curve())
    r, s = decode_dss_signature(priv.sign(msg, ec.ECDSA(HASHES[h]())))
    py_sig = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    alg = {"name": "ECDSA", "namedCurve": name}
    nums = priv.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": name, "x": b64u(nums.x.to_bytes(n, "big")), "y": b64u(nums.y.to_bytes(n, "big"))}
    out = call(
        {"method": "importKey", "args": ["spki", b(der(priv.public_key(), False)), alg, True, ["verify"]], "save": "pub"},
        {"method": "importKey", "args": ["jwk", jwk, alg, True, ["verify"]], "save": "jwkpub"},
        {"method": "importKey", "args": ["pkcs8", b(der(priv, True)), alg, True, ["sign"]], "save": "priv"},
        {"method": "verify", "args": [{"name": "ECDSA", "hash": h}, {"$key": "pub"}, b(py_sig), b(msg)]},
        {"method": "verify", "args": [{"name": "ECDSA", "hash": h}, {"$key": "jwkpub"}, b(py_sig), b(msg)]},
        {"method": "sign", "args": [{"name": "ECDSA", "hash": h}, {"$key": "priv"}, b(msg)]},
        {"method": "generateKey", "args": [alg, True, ["sign", "verify"]], "save": "gen"},
        {"method": "sign", "args": [{"name": "ECDSA", "hash": h}, {"$key": "gen.private"}, b(msg)]},
        {"method": "exportKey", "args": ["spki", {"$key": "gen.public"}]},
        {"method": "exportKey", "args": ["pkcs8", {"$key": "gen.private"}]},
        {"method": "exportKey", "args": ["raw", {"$key": "gen.public"}]},
    )
    check(out[3]["value"] is True and out[4]["value"] is True, f"ECDSA {name}: Python's signature verifies")
    for sig_v, pub in ((out[5]["value"], priv.public_key()), (out[7]["value"], serialization.load_der_public_key(unb(out[8]["value"])))):
        sig = unb(sig_v)
        pub.verify(encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")), msg, ec.ECDSA(HASHES[h]()))
        check(True, "")
    exported = serialization.load_der_private_key(unb(out[9]["value"]), None)
    check(exported.public_key().public_numbers() == serialization.load_der_public_key(unb(out[8]["value"])).public_numbers(), f"ECDSA {name}: pkcs8 matches spki")
    point = exported.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    check(unb(out[10]["value"]) == point, f"ECDSA {name}: raw is the uncompressed point")

# --- ECDH and X25519: each side's secret with the other's public key.
for name, (curve, _, n) in CURVES.items():
    a = ec.generate_private_key(curve())
    alg = {"name": "ECDH", "namedCurve": name}
    out = call(
        {"method": "generateKey", "args": [alg, True, ["deriveBits"]], "save": "rw"},
        {"method": "importKey", "args": ["raw", b(a.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)), alg, True, []], "save": "py"},
        {"method": "deriveBits", "args": [{"name": "ECDH", "public": {"$key": "py"}}, {"$key": "rw.private"}, n * 8]},
        {"method": "exportKey", "args": ["spki", {"$key": "rw.public"}]},
    )
    theirs = serialization.load_der_public_key(unb(out[3]["value"]))
    check(unb(out[2]["value"]) == a.exchange(ec.ECDH(), theirs), f"ECDH {name}")
a = x25519.X25519PrivateKey.generate()
bk = x25519.X25519PrivateKey.generate()
out = call(
    {"method": "importKey", "args": ["pkcs8", b(der(a, True)), "X25519", False, ["deriveBits"]], "save": "a"},
    {"method": "importKey", "args": ["spki", b(der(bk.public_key(), False)), "X25519", True, []], "save": "b"},
    {"method": "deriveBits", "args": [{"name": "X25519", "public": {"$key": "b"}}, {"$key": "a"}, 256]},
    {"method": "generateKey", "args": ["X25519", True, ["deriveBits"]], "save": "g"},
    {"method": "exportKey", "args": ["pkcs8", {"$key": "g.private"}]},
    {"method": "exportKey", "args": ["raw", {"$key": "g.public"}]},
)
check(unb(out[2]["value"]) == a.exchange(bk.public_key()), "X25519 with Python's keys")
g = serialization.load_der_private_key(unb(out[4]["value"]), None)
check(g.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == unb(out[5]["value"]), "X25519 export")

# --- Ed25519.
k = ed25519.Ed25519PrivateKey.generate()
out = call(
    {"method": "importKey", "args": ["pkcs8", b(der(k, True)), "Ed25519", True, ["sign"]], "save": "k"},
    {"method": "importKey", "args": ["spki", b(der(k.public_key(), False)), "Ed25519", True, ["verify"]], "save": "p"},
    {"method": "sign", "args": ["Ed25519", {"$key": "k"}, b(msg)]},
    {"method": "verify", "args": ["Ed25519", {"$key": "p"}, b(k.sign(msg)), b(msg)]},
    {"method": "generateKey", "args": ["Ed25519", True, ["sign", "verify"]], "save": "g"},
    {"method": "sign", "args": ["Ed25519", {"$key": "g.private"}, b(msg)]},
    {"method": "exportKey", "args": ["spki", {"$key": "g.public"}]},
)
check(unb(out[2]["value"]) == k.sign(msg), "Ed25519: same deterministic signature")
check(out[3]["value"] is True, "Ed25519: Python's signature verifies")
serialization.load_der_public_key(unb(out[6]["value"])).verify(unb(out[5]["value"]), msg)
check(True, "")

# --- RSA: PKCS#1 v1.5, PSS, OAEP with a Python key; a ringworker key checked by Python.
priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pkcs8, spki = der(priv, True), der(priv.public_key(), False)
label = b"interop label"
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)
out = call(
    {"method": "importKey", "args": ["pkcs8", b(pkcs8), {"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256"}, True, ["sign"]], "save": "s"},
    {"method": "importKey", "args": ["spki", b(spki), {"name": "RSA-PSS", "hash": "SHA-384"}, True, ["verify"]], "save": "pss"},
    {"method": "importKey", "args": ["pkcs8", b(pkcs8), {"name": "RSA-OAEP", "hash": "SHA-256"}, True, ["decrypt"]], "save": "dec"},
    {"method": "importKey", "args": ["spki", b(spki), {"name": "RSA-OAEP", "hash": "SHA-256"}, True, ["encrypt"]], "save": "enc"},
    {"method": "sign", "args": ["RSASSA-PKCS1-v1_5", {"$key": "s"}, b(msg)]},
    {"method": "verify", "args": [{"name": "RSA-PSS", "saltLength": 48}, {"$key": "pss"}, b(priv.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384())), b(msg)]},
    {"method": "decrypt", "args": [{"name": "RSA-OAEP", "label": b(label)}, {"$key": "dec"}, b(priv.public_key().encrypt(b"secret!", oaep))]},
    {"method": "encrypt", "args": [{"name": "RSA-OAEP", "label": b(label)}, {"$key": "enc"}, b(b"to python")]},
    {"method": "exportKey", "args": ["jwk", {"$key": "s"}]},
)
check(unb(out[4]["value"]) == priv.sign(msg, padding.PKCS1v15(), hashes.SHA256()), "RS256 deterministic signature")
check(out[5]["value"] is True, "PS384 from Python verifies")
check(unb(out[6]["value"]) == b"secret!", "RSA-OAEP decrypt")
check(priv.decrypt(unb(out[7]["value"]), oaep) == b"to python", "RSA-OAEP encrypt")
jwk = out[8]["value"]
nums = priv.private_numbers()
unpad = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
check((unpad(jwk["n"]), unpad(jwk["d"]), unpad(jwk["qi"])) == (nums.public_numbers.n, nums.d, nums.iqmp), "RSA JWK export")
out = call(
    {"method": "generateKey", "args": [{"name": "RSA-PSS", "modulusLength": 2048, "publicExponent": b(b"\x01\x00\x01"), "hash": "SHA-256"}, True, ["sign", "verify"]], "save": "g"},
    {"method": "sign", "args": [{"name": "RSA-PSS", "saltLength": 32}, {"$key": "g.private"}, b(msg)]},
    {"method": "exportKey", "args": ["spki", {"$key": "g.public"}]},
    {"method": "exportKey", "args": ["pkcs8", {"$key": "g.private"}]},
)
gpub = serialization.load_der_public_key(unb(out[2]["value"]))
gpub.verify(unb(out[1]["value"]), msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
check(serialization.load_der_private_key(unb(out[3]["value"]), None).public_key().public_numbers() == gpub.public_numbers(), "RSA generated pkcs8/spki")

# --- AES: GCM, CBC, CTR, KW both ways.
key = os.urandom(32)
iv, aad = os.urandom(12), os.urandom(20)
ct = AESGCM(key).encrypt(iv, msg, aad)
cbc_iv = os.urandom(16)
padder = sym_padding.PKCS7(128).padder()
enc = Cipher(algorithms.AES(key), modes.CBC(cbc_iv)).encryptor()
cbc_ct = enc.update(padder.update(msg) + padder.finalize()) + enc.finalize()
ctr_iv = os.urandom(16)
ctr_ct = Cipher(algorithms.AES(key), modes.CTR(ctr_iv)).encryptor().update(msg)
kek = os.urandom(16)
wrapped = keywrap.aes_key_wrap(kek, key)
out = call(
    {"method": "importKey", "args": ["raw", b(key), "AES-GCM", True, ["encrypt", "decrypt"]], "save": "gcm"},
    {"method": "importKey", "args": ["raw", b(key), "AES-CBC", True, ["encrypt", "decrypt"]], "save": "cbc"},
    {"method": "importKey", "args": ["raw", b(key), "AES-CTR", True, ["encrypt", "decrypt"]], "save": "ctr"},
    {"method": "importKey", "args": ["jwk", {"kty": "oct", "k": b64u(kek), "alg": "A128KW"}, "AES-KW", True, ["wrapKey", "unwrapKey"]], "save": "kek"},
    {"method": "decrypt", "args": [{"name": "AES-GCM", "iv": b(iv), "additionalData": b(aad)}, {"$key": "gcm"}, b(ct)]},
    {"method": "encrypt", "args": [{"name": "AES-GCM", "iv": b(iv), "additionalData": b(aad)}, {"$key": "gcm"}, b(msg)]},
    {"method": "decrypt", "args": [{"name": "AES-CBC", "iv": b(cbc_iv)}, {"$key": "cbc"}, b(cbc_ct)]},
    {"method": "encrypt", "args": [{"name": "AES-CTR", "counter": b(ctr_iv), "length": 128}, {"$key": "ctr"}, b(msg)]},
    {"method": "unwrapKey", "args": ["raw", b(wrapped), {"$key": "kek"}, "AES-KW", "AES-GCM", True, ["encrypt"]], "save": "unwrapped"},
    {"method": "exportKey", "args": ["raw", {"$key": "unwrapped"}]},
    {"method": "wrapKey", "args": ["raw", {"$key": "gcm"}, {"$key": "kek"}, "AES-KW"]},
)
check(unb(out[4]["value"]) == msg, "AES-GCM decrypt")
check(unb(out[5]["value"]) == ct, "AES-GCM encrypt")
check(unb(out[6]["value"]) == msg, "AES-CBC decrypt")
check(unb(out[7]["value"]) == ctr_ct, "AES-CTR")
check(unb(out[9]["value"]) == key, "AES-KW unwrap")
check(unb(out[10]["value"]) == wrapped, "AES-KW wrap")

# --- HKDF and PBKDF2.
ikm, salt, info = os.urandom(32), os.urandom(16), b"interop"
for h in HASHES:
    expected_hkdf = HKDF(algorithm=HASHES[h](), length=42, salt=salt, info=info).derive(ikm)
    expected_pbkdf2 = PBKDF2HMAC(algorithm=HASHES[h](), length=32, salt=salt, iterations=1000).derive(ikm)
    out = call(
        {"method": "importKey", "args": ["raw", b(ikm), "HKDF", False, ["deriveBits"]], "save": "h"},
        {"method": "importKey", "args": ["raw", b(ikm), "PBKDF2", False, ["deriveBits"]], "save": "p"},
        {"method": "deriveBits", "args": [{"name": "HKDF", "hash": h, "salt": b(salt), "info": b(info)}, {"$key": "h"}, 336]},
        {"method": "deriveBits", "args": [{"name": "PBKDF2", "hash": h, "salt": b(salt), "iterations": 1000}, {"$key": "p"}, 256]},
    )
    check(unb(out[2]["value"]) == expected_hkdf, f"HKDF {h}")
    check(unb(out[3]["value"]) == expected_pbkdf2, f"PBKDF2 {h}")

print(f"webcrypto interop: {checks} checks ok")
