// Streams the request body straight back: the socket's chunks flow through a
// ReadableStream into the response, with backpressure both ways.
export default {
  fetch(request) {
    if (request.method === "GET") return new Response("POST a body to have it echoed\n");
    return new Response(request.body, {
      headers: { "content-type": request.headers.get("content-type") ?? "application/octet-stream" },
    });
  },
};
