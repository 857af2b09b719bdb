// A loop inside one request: the µs per `new URL(request.url).pathname`
// (200,000 of them). Run with a CPU limit that allows it:
//   ringworker serve bench/workers/url-bench.js --listen 127.0.0.1:18113 --shards 1 --cpu-limit-ms 10000
//   curl '127.0.0.1:18113/some/path?x=1'   (twice: the first warms the JIT up)
export default {
  fetch(request) {
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < 200000; i++) n += new URL(request.url).pathname.length;
    const us = ((performance.now() - t0) * 1000) / 200000;
    return new Response(`${us.toFixed(3)} us per new URL + pathname (${n})\n`);
  },
};
