#!/usr/bin/env python3
"""Checks examples/grafana/ringworker-dashboard.json against a real
Prometheus: starts `ringworker serve` with an admin listener and a
Prometheus scraping it every second (the README's recipe), makes some
traffic, then evaluates every panel's query through Prometheus' HTTP API
and reports the ones that return nothing or fail.

    apt-get install -y prometheus        # once
    cargo build --release -p ringworker
    examples/grafana/check.py [--ringworker target/release/ringworker]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def wait(url):
    for _ in range(200):
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{url} never answered")


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--ringworker", default=f"{ROOT}/target/release/ringworker")
    a.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    a.add_argument("--port", type=int, default=18490)
    a = a.parse_args()
    port, admin, prom = a.port, a.port + 1, a.port + 2
    tmp = tempfile.mkdtemp(prefix="ringworker-grafana-check-")
    with open(f"{tmp}/prometheus.yml", "w") as f:
        f.write("global: { scrape_interval: 1s }\n"
                "scrape_configs:\n"
                "  - job_name: ringworker\n"
                f"    static_configs: [{{ targets: ['127.0.0.1:{admin}'] }}]\n")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [a.ringworker, "serve", f"{ROOT}/examples/hello.js", "--listen", f"127.0.0.1:{port}",
             "--admin", f"127.0.0.1:{admin}", "--shards", "2", "--no-pin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            [a.prometheus, f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
             f"--web.listen-address=127.0.0.1:{prom}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(f"http://127.0.0.1:{port}/")
        wait(f"http://127.0.0.1:{prom}/-/ready")
        # Traffic for a while, so that rates have two samples or more.
        end = time.time() + 8
        while time.time() < end:
            for _ in range(50):
                get(f"http://127.0.0.1:{port}/")
            time.sleep(0.1)
        time.sleep(2)
        dash = json.load(open(f"{HERE}/ringworker-dashboard.json"))
        bad = 0
        total = 0
        for p in dash["panels"]:
            for t in p.get("targets", []):
                total += 1
                expr = t["expr"].replace("$__rate_interval", "10s").replace('"$instance"', '".*"')
                q = urllib.parse.urlencode({"query": expr})
                try:
                    r = json.loads(get(f"http://127.0.0.1:{prom}/api/v1/query?{q}"))
                    n = len(r["data"]["result"])
                except Exception as e:  # noqa: BLE001 - report and go on
                    n, r = -1, str(e)
                status = "ok" if n > 0 else "NO DATA" if n == 0 else f"ERROR {r}"
                if n <= 0:
                    bad += 1
                print(f"{status:8} {p['title']}: {t.get('legendFormat', '')}")
        print(f"\n{total - bad}/{total} queries return data")
        sys.exit(1 if bad else 0)
    finally:
        for pr in procs:
            pr.terminate()
            pr.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
