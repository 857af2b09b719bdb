export async function route(path, request, env) {
  if (path === "/hello") {
    return Response.json({ greeting: env.GREETING ?? "hello", method: request.method });
  }
  if (path === "/later") {
    // A handler that waits on a timer before answering.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return new Response("waited", { headers: { "x-waited-ms": "20" } });
  }
  if (path === "/headers") {
    return Response.json(Object.fromEntries(request.headers));
  }
  if (path === "/throw") {
    throw new Error("boom from the script");
  }
  return new Response("not found", { status: 404 });
}
