// The side-by-side workloads (bench/peers/workload.js) on Node: node:http and
// the `ws` package, written natively (the thinnest adapter: no Request or
// Response objects in between).
// usage: PORT=8083 UPSTREAM=http://... NODE_PATH=<peers>/node_modules node bench/peers/node-serve.mjs
import http from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.env.NODE_PATH ?? ".", "noop.js"));
const { WebSocketServer } = require("ws");
const chunk = Buffer.alloc(1024, 120);
const upstream = process.env.UPSTREAM;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

const server = http.createServer((req, res) => {
  switch (req.url.split("?")[0]) {
    case "/":
      res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" });
      res.end("Hello, World!");
      return;
    case "/stream": {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      for (let i = 0; i < 64; i++) res.write(chunk);
      res.end();
      return;
    }
    case "/json": {
      const parts = [];
      req.on("data", (d) => parts.push(d));
      req.on("end", () => {
        let body;
        try {
          body = JSON.parse(Buffer.concat(parts).toString());
        } catch {
          res.writeHead(400).end();
          return;
        }
        const items = Array.isArray(body.items) ? body.items : [];
        const out = JSON.stringify({
          id: body.id,
          count: items.length,
          total: items.reduce((s, x) => s + (Number(x.price) || 0) * (Number(x.qty) || 0), 0),
          ok: true,
        });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(out);
      });
      return;
    }
    case "/proxy": {
      const up = http.get(upstream, { agent }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.writeHead(502).end());
      return;
    }
    default:
      res.writeHead(404).end("not found");
  }
});
server.keepAliveTimeout = 0;
const wss = new WebSocketServer({ server, path: "/ws" });
wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
server.listen(Number(process.env.PORT ?? 8083), "127.0.0.1");
