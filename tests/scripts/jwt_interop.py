#!/usr/bin/env python3
"""JWTs between jose (bundled, on ringworker) and Python's `cryptography`.

Usage: jwt_interop.py URL  (URL serves tests/npm/workers/jose.js)

For HS256, ES256, EdDSA and RS256: a token jose signed with a key it
generated is verified here against the public JWK it exported, and a token
signed here is verified by jose (importJWK + jwtVerify). Prints
"jwt interop: N checks ok" or raises.
"""
import base64
import hashlib
import hmac as std_hmac
import json
import sys
import time
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

URL = sys.argv[1].rstrip("/")
checks = 0


def post(path, body):
    req = urllib.request.Request(URL + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{path}: {e.code} {e.read().decode()}")


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def uint(s):
    return int.from_bytes(unb64u(s), "big")


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def verify_jws(token, alg, jwk=None, secret=None):
    head, body, sig = token.split(".")
    signing_input = f"{head}.{body}".encode()
    sig = unb64u(sig)
    check(json.loads(unb64u(head))["alg"] == alg, f"{alg}: header alg")
    if alg == "HS256":
        check(std_hmac.compare_digest(sig, std_hmac.new(secret, signing_input, hashlib.sha256).digest()), "HS256 MAC")
    elif alg == "ES256":
        pub = ec.EllipticCurvePublicNumbers(uint(jwk["x"]), uint(jwk["y"]), ec.SECP256R1()).public_key()
        pub.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")), signing_input, ec.ECDSA(hashes.SHA256()))
        check(len(sig) == 64, "ES256 signature is r || s")
    elif alg == "EdDSA":
        check(jwk["crv"] == "Ed25519", "EdDSA curve")
        ed25519.Ed25519PublicKey.from_public_bytes(unb64u(jwk["x"])).verify(sig, signing_input)
        check(True, "")
    elif alg == "RS256":
        rsa.RSAPublicNumbers(uint(jwk["e"]), uint(jwk["n"])).public_key().verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        check(True, "")
    return json.loads(unb64u(body))


def sign_jws(alg, payload):
    head = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64u(json.dumps(payload).encode())
    signing_input = f"{head}.{body}".encode()
    if alg == "ES256":
        k = ec.generate_private_key(ec.SECP256R1())
        r, s = decode_dss_signature(k.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        n = k.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    elif alg == "EdDSA":
        k = ed25519.Ed25519PrivateKey.generate()
        sig = k.sign(signing_input)
        raw = k.public_key().public_bytes_raw()
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
    else:
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        sig = k.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        n = k.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64u(n.n.to_bytes(256, "big")), "e": b64u(n.e.to_bytes(3, "big"))}
    return f"{head}.{body}.{b64u(sig)}", jwk


secret = b"jose-secret-jose-secret-jose-sec"
out = post("/hs256", {"secret": secret.decode()})
check(verify_jws(out["jwt"], "HS256", secret=secret)["hello"] == "world", "HS256 payload")
head = b64u(b'{"alg":"HS256"}')
body = b64u(json.dumps({"from": "python", "exp": int(time.time()) + 60}).encode())
mac = std_hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
out = post("/verify", {"alg": "HS256", "secret": secret.decode(), "jwt": f"{head}.{body}.{b64u(mac)}"})
check(out["payload"]["from"] == "python", "HS256 from Python verified by jose")

for alg in ("ES256", "EdDSA", "RS256"):
    out = post("/sign", {"alg": alg})
    check(verify_jws(out["jwt"], alg, jwk=out["jwk"])["sub"] == "ringworker", f"{alg}: jose's token verifies in Python")
    token, jwk = sign_jws(alg, {"sub": "python", "alg": alg})
    out = post("/verify", {"alg": alg, "jwk": jwk, "jwt": token})
    check(out["payload"]["sub"] == "python" and out["protectedHeader"]["alg"] == alg, f"{alg}: Python's token verifies in jose")
    bad = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    req = urllib.request.Request(URL + "/verify", data=json.dumps({"alg": alg, "jwk": jwk, "jwt": bad}).encode())
    try:
        urllib.request.urlopen(req, timeout=60)
        raise AssertionError(f"{alg}: a tampered token was accepted")
    except urllib.error.HTTPError as e:
        check(e.code == 400 and b"signature verification failed" in e.read(), f"{alg}: tampered token refused")

print(f"jwt interop: {checks} checks ok")
