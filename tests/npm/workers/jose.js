// jose, the most used JWT library, over crypto.subtle: SignJWT, jwtVerify,
// importJWK, exportJWK and generateKeyPair for HS256, ES256, EdDSA, RS256.
import * as jose from "jose";

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const body = request.method === "POST" ? await request.json() : {};
    try {
      switch (url.pathname) {
        case "/hs256": {
          const secret = new TextEncoder().encode(body.secret);
          const jwt = await new jose.SignJWT({ hello: "world" })
            .setProtectedHeader({ alg: "HS256" })
            .setIssuedAt()
            .setExpirationTime("2m")
            .sign(secret);
          const { payload } = await jose.jwtVerify(jwt, secret);
          return Response.json({ jwt, payload });
        }
        // A key pair made here; the token and the public JWK go to Python.
        case "/sign": {
          const { alg } = body;
          const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
          const jwt = await new jose.SignJWT({ sub: "ringworker", alg }).setProtectedHeader({ alg }).setIssuedAt().sign(privateKey);
          const { payload } = await jose.jwtVerify(jwt, publicKey);
          // The private key leaves as a JWK and comes back.
          const privateJwk = await jose.exportJWK(privateKey);
          const again = await jose.importJWK(privateJwk, alg);
          const second = await new jose.SignJWT({ sub: "again" }).setProtectedHeader({ alg }).sign(again);
          const jwk = await jose.exportJWK(publicKey);
          await jose.jwtVerify(second, await jose.importJWK(jwk, alg));
          return Response.json({ jwt, jwk, payload });
        }
        // A token and public JWK made by Python, verified here.
        case "/verify": {
          const key = body.alg === "HS256" ? new TextEncoder().encode(body.secret) : await jose.importJWK(body.jwk, body.alg);
          const { payload, protectedHeader } = await jose.jwtVerify(body.jwt, key);
          return Response.json({ payload, protectedHeader });
        }
        default:
          return new Response("not found", { status: 404 });
      }
    } catch (e) {
      return Response.json({ error: `${e.name}: ${e.message}`, code: e.code }, { status: 400 });
    }
  },
};
