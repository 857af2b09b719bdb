#!/usr/bin/env python3
"""What one scrape of the admin listener costs the server (issue 26).

Starts `ringworker serve bench/workers/admin-scrape.js` (SHARDS shards pinned
from SERVER_CPU, default 1 on CPU 0) with an admin listener, opens SOCKETS
idle WebSockets (default 10,000) and wakes ACTORS actors (default 1,000,
which stay resident: they are evicted after 70-140 s), then measures the
server's CPU time (its threads' scheduler run time, /proc/PID/task/*/schedstat)
over N sequential requests of /metrics, then of /stats, each on a keep-alive
connection, against the same wall time with no request (the idle sockets'
heartbeats and timers). Prints µs of server CPU per scrape, the scrape's
latency and its size.

    bench/scripts/admin-scrape.py [--sockets 10000] [--actors 1000] [--scrapes 200] [--shards 1]
"""
import argparse, http.client, os, resource, select, socket, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def open_websockets(port, n):
    """n idle WebSockets, upgraded with a plain handshake (kept open)."""
    req = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        socks.append(s)
        if len(socks) % 500 == 0 or i == n - 1:
            for s2 in socks[-500:]:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s2.recv(4096)
                    if not chunk:
                        sys.exit("a WebSocket upgrade failed")
                    head += chunk
                if not head.startswith(b"HTTP/1.1 101"):
                    sys.exit(f"upgrade refused: {head[:80]!r}")
    return socks


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--sockets", type=int, default=10_000)
    a.add_argument("--actors", type=int, default=1_000)
    a.add_argument("--scrapes", type=int, default=200)
    a.add_argument("--shards", type=int, default=1)
    a.add_argument("--port", type=int, default=18390)
    a = a.parse_args()
    # As many descriptors as the hard limit allows (10,000 sockets need
    # ~10,100; raising the hard limit itself needs privileges).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cpu = os.environ.get("SERVER_CPU", "0")
    cpus = ",".join(str(int(cpu) + i) for i in range(a.shards))
    port, admin = a.port, a.port + 1
    server = subprocess.Popen(
        ["taskset", "-c", cpus, f"{ROOT}/target/release/ringworker", "serve",
         f"{ROOT}/bench/workers/admin-scrape.js", "--listen", f"127.0.0.1:{port}",
         "--admin", f"127.0.0.1:{admin}", "--shards", str(a.shards),
         "--actor", "COUNTER=Counter", "--actor-storage", "memory"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        wait_port(admin)
        socks = open_websockets(port, a.sockets)
        c = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(a.actors):
            c.request("GET", f"/actor/a{i}")
            c.getresponse().read()
        c.close()
        time.sleep(1.0)
        adm = http.client.HTTPConnection("127.0.0.1", admin)
        adm.request("GET", "/stats")
        import json
        total = json.loads(adm.getresponse().read())["total"]
        print(f"server: {a.shards} shard(s); {total['websockets']['open']} WebSockets open, "
              f"{total['actors']['live']} actors resident")
        rows = []
        for path in ("/metrics", "/stats"):
            # Idle baseline over the same wall time as the scrapes.
            lat, size = [], 0
            t0, c0 = time.perf_counter(), run_ns(server.pid)
            for _ in range(a.scrapes):
                s = time.perf_counter()
                adm.request("GET", path)
                body = adm.getresponse().read()
                lat.append(time.perf_counter() - s)
                size = len(body)
            wall, busy = time.perf_counter() - t0, run_ns(server.pid) - c0
            c1 = run_ns(server.pid)
            time.sleep(wall)
            idle = run_ns(server.pid) - c1
            per = (busy - idle) / a.scrapes / 1000
            rows.append((path, per, busy / a.scrapes / 1000, idle / 1000 / max(wall, 1e-9),
                         statistics.median(lat) * 1e3, max(lat) * 1e3, size))
        print("| route | server CPU µs/scrape (idle subtracted) | raw | idle µs/s | latency p50 ms | max ms | bytes |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]:.0f} | {r[2]:.0f} | {r[3]:.0f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:,} |")
        for s in socks:
            s.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
