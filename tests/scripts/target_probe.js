// Answers with what the script sees of each request's URL, and remembers
// every pathname it was asked for (GET /seen lists them): a request that
// must never reach the script shows up there if it does.
const seen = [];
export default {
  fetch(request) {
    const u = new URL(request.url);
    if (u.pathname === "/seen") return Response.json(seen);
    seen.push(u.pathname);
    return Response.json({
      url: request.url,
      host: u.host,
      pathname: u.pathname,
      search: u.search,
      method: request.method,
    });
  },
};
