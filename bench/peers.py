"""What the Python peers' harnesses (bench/celery, bench/huey) share: the shape of a measured
line, the percentiles, the sampling of their processes' memory and CPU, starting and
stopping those processes, and the local HTTP endpoint that the queued-path scenario's tasks
call. Standard library only; a harness puts bench/ on sys.path to import it.

A line, as `bpops bench --json` prints it, plus the peer's durability:

    {"scenario": "<system>: <what>", "count", "per_second",
     "latency_ms": {"p50", "p90", "p99", "max"}, "errors", "server_rss_mb", "durability"}
"""

import argparse
import http.server
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

# The body each queued-path task POSTs, and the answer the endpoint gives: what bpops's http
# executor sends a receiver (README, "Declared operations") and what a receiver answers.
HTTP_BODY = json.dumps({"ServiceType": "bench", "Operation": "call", "Attributes": {"n": 1}})
HTTP_ANSWER = json.dumps({"Arguments": {"ok": True}}).encode()


def percentiles(samples):
    """Nearest-rank percentiles in ms, as bpops bench computes them; zeros when empty."""
    if not samples:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    s = sorted(samples)

    def at(q):
        rank = min(max(math.ceil(q * len(s)), 1), len(s))
        return s[rank - 1] * 1000.0

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)}


def report(scenario, count, elapsed, latencies, errors, rss, durability=None):
    line = {
        "scenario": scenario,
        "count": count,
        "per_second": count / max(elapsed, 1e-9),
        "latency_ms": percentiles(latencies),
        "errors": errors,
        "server_rss_mb": rss.peak_mb() if rss else None,
    }
    if durability:
        line["durability"] = durability
    return line


def emit(line):
    print(json.dumps(line), flush=True)


def note(text):
    """A note line for the report (and stderr, for whoever watches the run)."""
    text = " ".join(text.split())
    emit({"note": text})
    print(text, file=sys.stderr)


def run_threads(target, count):
    threads = [threading.Thread(target=target, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def call_endpoint(url):
    """The queued-path task's work: one POST of HTTP_BODY, its JSON answer returned."""
    request = urllib.request.Request(url, data=HTTP_BODY.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


class Endpoint:
    """A local HTTP endpoint on a free loopback port answering every POST with HTTP_ANSWER;
    it counts the calls. Runs in a thread of the harness until close()."""

    def __init__(self):
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint.lock:
                    endpoint.calls += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(HTTP_ANSWER)))
                self.end_headers()
                self.wfile.write(HTTP_ANSWER)

            def log_message(self, *args):
                pass

        self.calls, self.lock = 0, threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/call"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Rss:
    """Samples the summed PSS of some process trees in the background and keeps the peak."""

    def __init__(self, pids):
        self.pids, self.peak = list(pids), 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def add(self, pid):
        self.pids.append(pid)

    def loop(self):
        while not self.stop.wait(0.25):
            self.sample()

    def sample(self):
        kb = sum(pss_kb(p) for root in self.pids for p in tree(root))
        self.peak = max(self.peak, kb / 1024.0)

    def peak_mb(self):
        self.sample()
        return round(self.peak, 1)

    def close(self):
        self.stop.set()
        self.thread.join()


def tree(pid):
    """pid and its descendants, from /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass  # it exited meanwhile
    return found


def cpu_seconds(pids):
    """User + system CPU time used so far by these process trees (from /proc/<pid>/stat)."""
    ticks = 0
    for p in (p for root in pids for p in tree(root)):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port():
    # The kernel picks a free port; the server binds it right after. Never 6379, which the
    # machine's own Redis holds.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command, log, **kwargs):
    # Its own session, so stop() can end it and whatever it forked, and nothing else.
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
    )


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tail(path, lines=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def duration(text):
    """'10s', '500ms', '1m' or plain seconds, like bpops bench's --read-for."""
    match = re.fullmatch(r"([0-9.]+)\s*(ms|s|m)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text}")
    value, unit = float(match[1]), match[2] or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def arguments(description, scenarios, default):
    """The flags every harness shares with `bpops bench`, with its --short clamps."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scenario", default=default,
                        help="comma-separated: " + ", ".join(scenarios))
    parser.add_argument("--operations", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sequential", type=int, default=2_000)
    parser.add_argument("--read-for", type=duration, default=10.0)
    parser.add_argument("--short", action="store_true",
                        help="a few seconds: the same small counts as bpops bench --short")
    return parser


def settle(parser, args, scenarios):
    """Checks --scenario and applies --short's clamps (those of `bpops bench --short`)."""
    args.scenario = [s.strip() for s in args.scenario.split(",") if s.strip()]
    unknown = set(args.scenario) - set(scenarios)
    if unknown:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    for name in ("operations", "in_flight", "concurrency", "sequential", "read_for"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.short:
        args.operations = min(args.operations, 500)
        args.in_flight = min(args.in_flight, 500)
        args.concurrency = min(args.concurrency, 8)
        args.sequential = min(args.sequential, 50)
        args.read_for = min(args.read_for, 1.0)
    return args


def wait_until(ready, alive, what, log_path, seconds=60):
    """Polls ready() until true; fails with the log's tail when alive() turns false first."""
    deadline = time.monotonic() + seconds
    while not ready():
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: " + tail(log_path))
        time.sleep(0.02)
