#!/usr/bin/env python3
"""Process start to the first 200: starts the command 7 times, polls
GET / on PORT every 0.5 ms until it answers 200, kills it; prints the
median, min and max in ms.

    bench/scripts/first-200.py PORT target/release/ringworker serve examples/hello.js \
        --listen 127.0.0.1:PORT [--shards 1]
"""
import socket
import subprocess
import sys
import time


def once(port, args):
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if p.poll() is not None:
                sys.exit(f"the server exited ({p.returncode}) before answering")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b" 200 " in s.recv(100):
                        return (time.perf_counter() - t0) * 1000
            except OSError:
                time.sleep(0.0005)
    finally:
        p.terminate()
        p.wait()


port, args = int(sys.argv[1]), sys.argv[2:]
ts = sorted(once(port, args) for _ in range(7))
print(f"process start to the first 200: median {ts[3]:.1f} ms, min {ts[0]:.1f}, max {ts[-1]:.1f}")
