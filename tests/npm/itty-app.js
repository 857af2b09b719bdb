// An itty-router app, bundled by esbuild and served by `ringworker serve`
// in tests/npm_libraries.rs.
import { AutoRouter, error } from "itty-router";

const router = AutoRouter();

router.get("/items/:id", ({ params, query }) => ({ id: params.id, q: query.q ?? null }));
router.post("/echo", async (request) => ({ got: await request.json(), type: request.headers.get("content-type") }));
router.get("/pattern", (request) => {
  const match = new URLPattern({ pathname: "/pattern" }).exec(request.url);
  return { matched: match !== null, agent: navigator.userAgent };
});
router.all("*", () => error(404, "nothing here"));

export default router;
