// One counter per name: POST /<name> increments it, GET /<name> reads it,
// DELETE /<name> resets it. The worker reaches the counter by RPC; every
// shard reaches the same instance (it lives on its home shard).
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async increment(by = 1) {
    // Two awaits, no race: the input gate holds other events until the
    // storage reads and writes are done.
    const value = ((await this.ctx.storage.get("value")) ?? 0) + by;
    await this.ctx.storage.put("value", value);
    return value;
  }

  async read() {
    return (await this.ctx.storage.get("value")) ?? 0;
  }

  async reset() {
    await this.ctx.storage.deleteAll();
  }
}

export default {
  async fetch(request, env) {
    const name = new URL(request.url).pathname.slice(1) || "default";
    const counter = env.COUNTER.getByName(name);
    switch (request.method) {
      case "POST":
        return new Response(`${await counter.increment()}\n`);
      case "DELETE":
        await counter.reset();
        return new Response("reset\n");
      default:
        return new Response(`${await counter.read()}\n`);
    }
  },
};
