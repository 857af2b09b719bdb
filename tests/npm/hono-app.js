// A Hono app as a Workers project would write it: bundled by esbuild (as
// wrangler does) and served by `ringworker serve` in tests/npm_libraries.rs.
import { Hono } from "hono";
import { compress } from "hono/compress";
import { getRuntimeKey } from "hono/adapter";

const app = new Hono();

app.get("/", (c) => c.text(`hello from ${getRuntimeKey()}`));

// parseBody: multipart (fields and files) and urlencoded forms.
app.post("/form", async (c) => {
  const body = await c.req.parseBody({ all: true });
  const out = {};
  for (const [name, value] of Object.entries(body)) {
    const values = Array.isArray(value) ? value : [value];
    out[name] = await Promise.all(
      values.map(async (v) =>
        typeof v === "string" ? v : { file: v.name, type: v.type, size: v.size, text: await v.text() },
      ),
    );
  }
  return c.json(out);
});

// hono/compress: gzip or deflate as the client accepts, via CompressionStream.
app.use("/big", compress());
app.get("/big", (c) => c.text("compressible text, ".repeat(4000)));

app.notFound((c) => c.text("no such route", 404));

export default app;
