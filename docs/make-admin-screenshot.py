#!/usr/bin/env python3
"""Makes docs/admin-dashboard.png, the README's picture of the admin
dashboard: serves bench/workers/admin-scrape.js on two shards with an admin
listener, drives some traffic (a varying request rate, a few WebSockets and
actors), opens the dashboard in headless Chromium and, after SECONDS of real
time, captures it through the DevTools protocol.

    cargo build --release -p ringworker
    docs/make-admin-screenshot.py [--seconds 60] [--out docs/admin-dashboard.png]

Needs `chromium` (apt-get install chromium) and Python's `websockets`.
"""
import argparse, asyncio, base64, json, os, random, socket, subprocess, sys, tempfile, threading, time
import http.client
import urllib.request

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def traffic(port, stop):
    """Requests at a rate that wanders, a few actors, some 404s."""
    c = http.client.HTTPConnection("127.0.0.1", port)
    rate = 200.0
    while not stop.is_set():
        rate = min(800.0, max(50.0, rate * random.uniform(0.9, 1.12)))
        t0 = time.time()
        n = int(rate / 10)
        for i in range(n):
            path = random.choice(["/", "/", "/", f"/actor/a{random.randint(0, 11)}", "/missing/x"])
            c.request("GET", path)
            c.getresponse().read()
        time.sleep(max(0.0, 0.1 - (time.time() - t0)))


async def capture(devtools_port, out, seconds, width, height):
    for _ in range(100):
        try:
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json"))
            page = next(t for t in targets if t["type"] == "page")
            break
        except (OSError, StopIteration):
            await asyncio.sleep(0.1)
    else:
        sys.exit("no page in Chromium")
    async with websockets.connect(page["webSocketDebuggerUrl"], max_size=64 << 20) as ws:
        async def call(i, method, params=None):
            await ws.send(json.dumps({"id": i, "method": method, "params": params or {}}))
            while True:
                r = json.loads(await ws.recv())
                if r.get("id") == i:
                    return r
        await call(1, "Emulation.setDeviceMetricsOverride",
                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        await asyncio.sleep(seconds)
        r = await call(2, "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(out, "wb") as f:
            f.write(base64.b64decode(r["result"]["data"]))


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--seconds", type=float, default=60)
    a.add_argument("--out", default=f"{ROOT}/docs/admin-dashboard.png")
    a.add_argument("--ringworker", default=f"{ROOT}/target/release/ringworker")
    a.add_argument("--port", type=int, default=18590)
    a = a.parse_args()
    port, admin, devtools = a.port, a.port + 1, a.port + 2
    server = subprocess.Popen(
        [a.ringworker, "serve", f"{ROOT}/bench/workers/admin-scrape.js", "--listen", f"127.0.0.1:{port}",
         "--admin", f"127.0.0.1:{admin}", "--shards", "2", "--no-pin",
         "--actor", "COUNTER=Counter", "--actor-storage", "memory"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="ringworker-screenshot-")
    chrome = None
    stop = threading.Event()
    try:
        wait_port(port)
        wait_port(admin)
        sockets = []
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            s.recv(4096)
            sockets.append(s)
        threading.Thread(target=traffic, args=(port, stop), daemon=True).start()
        chrome = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--remote-debugging-port={devtools}",
             f"http://127.0.0.1:{admin}/?window=60"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        asyncio.run(capture(devtools, a.out, a.seconds, 1400, 1000))
        print(f"wrote {a.out}")
    finally:
        stop.set()
        if chrome:
            chrome.terminate()
            chrome.wait(timeout=30)
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", profile])


if __name__ == "__main__":
    main()
