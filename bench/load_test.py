"""Load test of the running Gradio app on localhost: N concurrent clients asking for a bounded time.

Starts ``app.py`` on a free 127.0.0.1 port in a subprocess (or targets ``--url``), then runs
``--clients`` threads, each with its own ``gradio_client.Client``, calling the ``/ask``
endpoint with demo questions until ``--seconds`` have passed (and at most ``--max-requests``
in all). Prints throughput, latency percentiles and errors; writes JSON. Traffic goes only
to the loopback address.

    python bench/load_test.py --clients 20 --seconds 60 --index index/default
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Who was killed alongside Soleimani?", "How many US troops remain in Iraq?", "When was Soleimani killed?",
    "Which court issued an arrest warrant for Trump?", "Where did pro-Iran factions hold a demonstration?",
    "How many US personnel suffered traumatic brain injuries?", "Who ordered the drone strike?",
    "What model of drone was used?",
]


# k, answer mode, search mode, source, date from, date to: the page's defaults
ASK_DEFAULTS = (5, "extractive", "hybrid", "", "", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"app did not come up at {url} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--max-requests", type=int, default=5000)
    p.add_argument("--index", default=str(ROOT / "index" / "default"))
    p.add_argument("--url", help="target a running app instead of starting one (must be on 127.0.0.1)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "load_test.json"))
    args = p.parse_args(argv)

    from gradio_client import Client

    server = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--index", args.index, "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    elif not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit("--url must point to this machine (127.0.0.1 or localhost)")
    try:
        wait_up(url, 300)
        warm = Client(url, verbose=False)
        warm.predict(QUESTIONS[0], *ASK_DEFAULTS, api_name="/ask")  # load models before timing
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop = time.time() + args.seconds
        count = [0]

        def client(i: int) -> None:
            c = Client(url, verbose=False)
            n = i
            while time.time() < stop:
                with lock:
                    if count[0] >= args.max_requests:
                        return
                    count[0] += 1
                q = QUESTIONS[n % len(QUESTIONS)]
                n += 1
                t = time.perf_counter()
                try:
                    html, data = c.predict(q, *ASK_DEFAULTS, api_name="/ask")
                    ok = isinstance(data, dict) and "error" not in data and ("text" in data)
                    with lock:
                        (latencies if ok else errors).append(time.perf_counter() - t if ok else f"bad reply to {q!r}")
                except Exception as e:  # noqa: BLE001 - every failure counts as an error
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}"[:200])

        started = time.time()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    lat = np.asarray(latencies) * 1000
    result = {
        "clients": args.clients, "seconds": round(wall, 1), "requests_ok": len(latencies), "errors": len(errors),
        "error_samples": errors[:5], "throughput_rps": round(len(latencies) / wall, 2),
        "latency_ms": {q: round(float(np.percentile(lat, q)), 1) for q in (50, 95, 99)} if len(lat) else {},
        "date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'clients':>8} {'seconds':>8} {'ok':>6} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    lm = result["latency_ms"]
    print(f"{args.clients:>8} {wall:>8.1f} {len(latencies):>6} {len(errors):>6} {result['throughput_rps']:>7} "
          f"{lm.get(50, 0):>8} {lm.get(95, 0):>8} {lm.get(99, 0):>8}")
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
