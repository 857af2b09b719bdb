// A Hono app using real npm code that leans on nodejs_compat: Hono's
// contextStorage() (node:async_hooks' AsyncLocalStorage) and
// cookie-signature (node:crypto's createHmac, Buffer, timingSafeEqual).
import { Hono } from "hono";
import { contextStorage, getContext } from "hono/context-storage";
import signature from "cookie-signature";
import { EventEmitter, once } from "node:events";

const app = new Hono();
app.use(contextStorage());
app.use(async (c, next) => {
  c.set("requestId", c.req.header("x-id") ?? "none");
  await next();
});

// Deep in the call tree, after awaits and timers: the request's own context.
async function requestIdLater(ms) {
  await new Promise((r) => setTimeout(r, ms));
  await null;
  return getContext().var.requestId;
}

app.get("/ctx", async (c) => c.text(await requestIdLater(Number(c.req.query("ms") ?? 1))));

app.get("/sign", (c) => {
  const secret = c.env.SECRET;
  const signed = signature.sign(c.req.query("v") ?? "", secret);
  return c.json({ signed, back: signature.unsign(signed, secret), tampered: signature.unsign(signed + "x", secret) });
});

app.get("/events", async (c) => {
  const e = new EventEmitter();
  setTimeout(() => e.emit("done", Buffer.from(c.req.query("v") ?? "").toString("base64")), 1);
  const [v] = await once(e, "done");
  return c.text(v);
});

app.get("/env", (c) => c.text(`${process.env.SECRET}|${typeof Buffer}`));

export default app;
