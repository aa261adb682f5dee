"""How the network output's server copes with idle, half-sent and slow clients, and how fast SIGTERM ends the run.

Starts ``livestyle run --input demo --realtime --output stream:PORT`` (127.0.0.1
only), opens ``--clients`` connections spread over four kinds, waits
``--hold`` seconds, counts the connections the server still keeps open, sends
SIGTERM and measures the time until the process has exited:

* ``idle``: connects and sends nothing;
* ``partial``: sends half a request line (``GET /livest``) and nothing more;
* ``drip``: sends its request line one byte every 0.5 s (slowloris);
* ``slow``: a full request with the token, then reads 1 KB every 0.5 s.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/stream_clients.py --clients 200 --hold 8 --runs 3
    PYTHONPATH=$PWD .venv/bin/python benchmarks/stream_clients.py --clients 200 --hold 8 --runs 3 --kinds slow

Prints one JSON object per run and a summary; every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("idle", "partial", "drip", "slow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, home: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               LIVESTYLE_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--size",
                             "320x180", "--output", f"stream:{port}", "--quiet"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    t_end = time.monotonic() + 60
    while time.monotonic() < t_end:
        line = proc.stdout.readline()
        m = re.search(r"network output (http://\S+)", line or "")
        if m:
            return proc, m.group(1)
        if not line:
            break
    proc.kill()
    proc.wait()
    raise SystemExit("livestyle printed no network output URL")


def one_run(n_clients: int, hold_s: float, home: Path, kinds: tuple[str, ...] = KINDS) -> dict:
    port = free_port()
    proc, url = start(port, home)
    parts = urlsplit(url)
    request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    socks: list[tuple[str, socket.socket]] = []
    sel = selectors.DefaultSelector()
    refused = 0
    for i in range(n_clients):
        kind = kinds[i % len(kinds)]
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            refused += 1
            s.close()
            continue
        if kind == "partial":
            s.sendall(b"GET /livest")
        elif kind == "slow":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(request)
        s.setblocking(False)
        socks.append((kind, s))
    drip_pos = {id(s): 0 for k, s in socks if k == "drip"}
    open_by_kind = {k: 0 for k in kinds}
    closed: set[int] = set()
    t_end = time.monotonic() + hold_s
    while time.monotonic() < t_end:  # drip and slow clients do their thing; note who the server closed
        for kind, s in socks:
            if id(s) in closed:
                continue
            try:
                if kind == "drip" and drip_pos[id(s)] < len(request):
                    s.send(request[drip_pos[id(s)]:drip_pos[id(s)] + 1])
                    drip_pos[id(s)] += 1
                data = s.recv(1024 if kind == "slow" else 65536)
                if data == b"" or (kind != "slow" and data):
                    closed.add(id(s))  # EOF, or an answer (a 503 or 408) to a client that asked nothing
            except BlockingIOError:
                pass
            except OSError:
                closed.add(id(s))
        time.sleep(0.5)
    for kind, s in socks:
        if id(s) not in closed:
            open_by_kind[kind] += 1
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
        exit_s = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        exit_s = float("inf")
        proc.kill()
        proc.wait()
    for _, s in socks:
        s.close()
    return {"clients": n_clients, "kinds": list(kinds), "refused_at_connect": refused, "hold_s": hold_s,
            "still_open_after_hold": open_by_kind, "exit_after_sigterm_s": round(exit_s, 3),
            "returncode": proc.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--hold", type=float, default=8.0, help="seconds the clients hold on before SIGTERM")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated client kinds, cycled ({','.join(KINDS)})")
    args = ap.parse_args()
    kinds = tuple(k for k in args.kinds.split(",") if k in KINDS) or KINDS
    import tempfile

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(1, min(args.runs, 20))):
            r = one_run(max(1, min(args.clients, 1000)), max(0.0, min(args.hold, 120.0)), Path(tmp), kinds)
            print(json.dumps(r), flush=True)
            results.append(r)
    times = [r["exit_after_sigterm_s"] for r in results]
    print(json.dumps({"exit_after_sigterm_s": {"median": statistics.median(times), "max": max(times)},
                      "runs": len(times)}))


if __name__ == "__main__":
    main()
