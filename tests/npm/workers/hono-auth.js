// Hono's crypto-backed middleware as an app uses them: hono/jwt (sign +
// the verify middleware), hono/basic-auth and hono/bearer-auth (which
// compare SHA-256 digests from crypto.subtle) and hono/etag (SHA-1).
import { Hono } from "hono";
import { jwt, sign, verify } from "hono/jwt";
import { basicAuth } from "hono/basic-auth";
import { bearerAuth } from "hono/bearer-auth";
import { etag } from "hono/etag";

const SECRET = "a-secret-long-enough-for-hs256!!";
const app = new Hono();

app.get("/token", async (c) => {
  const payload = { sub: "ada", role: "admin", exp: Math.floor(Date.now() / 1000) + 300 };
  return c.text(await sign(payload, SECRET, "HS256"));
});
app.use("/jwt/*", jwt({ secret: SECRET, alg: "HS256" }));
app.get("/jwt/me", (c) => c.json(c.get("jwtPayload")));

// A token made elsewhere (the test's Python), checked with hono's verify().
app.post("/verify", async (c) => {
  const { token, secret } = await c.req.json();
  try {
    return c.json({ ok: true, payload: await verify(token, secret, "HS256") });
  } catch (e) {
    return c.json({ ok: false, error: e.name });
  }
});

app.use("/basic/*", basicAuth({ username: "ada", password: "lovelace" }));
app.get("/basic/hi", (c) => c.text("hello ada"));

app.use("/bearer/*", bearerAuth({ token: "s3cret-token" }));
app.get("/bearer/hi", (c) => c.text("bearer ok"));

app.use("/etag/*", etag());
app.get("/etag/doc", (c) => c.text("some document body"));

export default app;
