// A small JSON API: routes, env, async handlers, relative imports.
import { route } from "./routes.js";

export default {
  async fetch(request, env, ctx) {
    const path = request.url.replace(/^https?:\/\/[^/]+/, "").split("?")[0];
    return route(path, request, env);
  },
};
