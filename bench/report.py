#!/usr/bin/env python3
"""Turns the JSON lines of one `bench/run` into docs/benchmarks.md-ready markdown, and
optionally an SVG chart. Standard library only, so it runs without the Celery venv.

A run's file holds, one JSON object a line:
  {"meta": {...}}                     machine, versions, parameters (written by `meta`)
  {"mark": "...", "loadavg": [...]}   the load average at a point of the run (`mark`)
  {"note": "..."}                     something the tables should mention (`note`)
  {"scenario": "<system>: <what>", "count", "per_second", "latency_ms", "errors",
   "server_rss_mb"}                   one measured scenario, from `bpops bench --json` (tagged
                                      with `tag`) or from bench/celery/bench.py; bpops's
                                      scale lines also carry "scale": {"retained",
                                      "expired", "offered_per_second", "window_s", "load_s",
                                      "p99_vs_near_empty", "sweep_s", "swept_per_second",
                                      "phase", "loaded"}

  report.py meta --mode full --bpops BIN --celery-python PY [--postgres-url URL] [--params ..]
  report.py mark LABEL
  report.py note TEXT
  report.py tag SYSTEM < lines       prefixes each scenario with "SYSTEM: "
  report.py markdown RUN.jsonl [--svg OUT.svg]
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

# Display names of the systems, in table order; Celery pools come after, in run order.
SYSTEMS = {
    "bpops/sqlite": "bpops, SQLite",
    "bpops/postgres": "bpops, PostgreSQL",
    "huey/sqlite": "Huey, SQLite",
    "huey/postgres": "Huey, PostgreSQL",
    "graphile-worker": "graphile-worker",
    "bullmq/always": "BullMQ, appendfsync always",
    "bullmq/everysec": "BullMQ, appendfsync everysec",
}
# What an acknowledged operation survives, for systems whose lines do not say it themselves.
DURABILITY = {
    "bpops/sqlite": "fsync before acknowledging (SQLite WAL, synchronous = FULL)",
    "bpops/postgres": "fsync before acknowledging (PostgreSQL commit)",
}
# The scenarios side by side, in order: (kind, column title).
KINDS = [("throughput", "closed loop ops/s"), ("burn-down", "burn-down ops/s"),
         ("queued path", "queued path ops/s"), ("in flight", "in flight ops/s"),
         ("read", "reads req/s")]


# --- writing a run ----------------------------------------------------------------------


def output_of(*command):
    """First line of a command's output, or None when it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if done.returncode == 0 and text else None


def machine():
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        total_kb = int(next(l for l in f if l.startswith("MemTotal:")).split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor() or "unknown",
        "memory_gib": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "disk": disk_probe(),
    }


def disk_probe(samples=300):
    """What one durable commit costs in the temporary directory, where `bpops bench` keeps
    its SQLite file: p50 and p99 in ms of a one-row SQLite commit in WAL mode with
    synchronous = FULL (as bpops's store commits), and of a bare fdatasync after a 4 KiB
    overwrite. Every acknowledged bpops operation pays at least one such commit."""
    import sqlite3
    import tempfile
    import time

    def summary(latencies):
        latencies.sort()
        return {"p50": round(latencies[len(latencies) // 2], 2),
                "p99": round(latencies[int(len(latencies) * 0.99) - 1], 2)}

    with tempfile.TemporaryDirectory() as directory:
        db = sqlite3.connect(os.path.join(directory, "probe.db"), isolation_level=None)
        db.execute("pragma journal_mode = wal")
        db.execute("pragma synchronous = full")
        db.execute("create table t (id integer primary key, body text)")
        commits = []
        for i in range(samples):
            started = time.perf_counter()
            db.execute("insert into t (body) values (?)", ("x" * 200,))
            commits.append((time.perf_counter() - started) * 1000)
        db.close()
        syncs = []
        with open(os.path.join(directory, "probe.bin"), "wb") as f:
            fd = f.fileno()
            os.write(fd, b"\0" * 4096 * 64)
            os.fsync(fd)
            for i in range(samples):
                os.pwrite(fd, os.urandom(4096), (i % 64) * 4096)
                started = time.perf_counter()
                os.fdatasync(fd)
                syncs.append((time.perf_counter() - started) * 1000)
    return {"sqlite_commit_ms": summary(commits), "fdatasync_ms": summary(syncs)}


def versions(args):
    found = {
        "bpops": output_of(args.bpops, "--version"),
        "commit": output_of("git", "-C", os.path.dirname(os.path.abspath(__file__)),
                            "describe", "--always", "--dirty"),
        "rustc": output_of("rustc", "--version"),
        # "Redis server v=7.0.15 sha=... malloc=..." -> "7.0.15"
        "redis-server": (output_of("redis-server", "--version") or "").partition("v=")[2]
        .split(" ")[0],
    }
    if args.celery_python:
        found["python"] = output_of(args.celery_python, "--version")
        script = ("import importlib.metadata as m\n"
                  "for p in ('celery', 'kombu', 'redis', 'billiard', 'gevent'):\n"
                  "    print(p + ' ' + m.version(p))")
        try:
            lines = subprocess.run([args.celery_python, "-c", script], capture_output=True,
                                   text=True, timeout=30).stdout.splitlines()
        except OSError:
            lines = []
        for line in lines:
            name, version = line.split()
            found["redis-py" if name == "redis" else name] = version
    if args.huey_python:
        script = ("import importlib.metadata as m\n"
                  "for p in ('huey', 'psycopg'):\n"
                  "    print(p + ' ' + m.version(p))")
        try:
            lines = subprocess.run([args.huey_python, "-c", script], capture_output=True,
                                   text=True, timeout=30).stdout.splitlines()
        except OSError:
            lines = []
        found.update(line.split() for line in lines)
    if args.node_peers:
        found["node"] = output_of("node", "--version")
        for harness in args.node_peers:  # the versions its lock file pins
            try:
                with open(os.path.join(harness, "package.json")) as f:
                    wanted = json.load(f)["dependencies"]
                with open(os.path.join(harness, "package-lock.json")) as f:
                    locked = json.load(f)["packages"]
            except (OSError, KeyError, ValueError):
                continue
            for name in wanted:
                found[name] = locked.get(f"node_modules/{name}", {}).get("version")
    if args.postgres_url:
        server = output_of("psql", args.postgres_url, "-Atc", "show server_version")
        found["postgresql"] = server and server.split()[0]  # "15.20 (Debian ...)" -> "15.20"
    return {k: v for k, v in found.items() if v}


def write_meta(args):
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": args.mode,
        "params": dict(p.split("=", 1) for p in args.params),
        "machine": machine(),
        "versions": versions(args),
    }
    print(json.dumps({"meta": meta}))


def tag(system):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        row = json.loads(line)
        if "scenario" in row:
            row["scenario"] = f"{system}: {row['scenario']}"
        print(json.dumps(row), flush=True)


# --- reading a run ----------------------------------------------------------------------


def load(path):
    meta, marks, notes, rows = {}, [], [], []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            item = json.loads(line)
            if "meta" in item:
                meta = item["meta"]
            elif "mark" in item:
                marks.append(item)
            elif "note" in item:
                notes.append(item["note"])
            elif "scenario" in item:
                system, _, what = item["scenario"].partition(": ")
                item["system"], item["what"] = system, what
                # throughput, burn-down, queued path, in flight, latency, read, or scale
                # ("scale: read, ...")
                item["kind"] = "scale" if what.startswith("scale:") else what.split(" (")[0]
                rows.append(item)
    return meta, marks, notes, rows


def system_name(system):
    return SYSTEMS.get(system, system.replace("celery/", "Celery, ") + " pool")


def durability(system, rows):
    said = next((r["durability"] for r in rows if r["system"] == system and "durability" in r),
                None)
    return said or DURABILITY.get(system, "–")


def ordered_systems(rows):
    seen = list(dict.fromkeys(r["system"] for r in rows))
    return [s for s in SYSTEMS if s in seen] + [s for s in seen if s not in SYSTEMS]


def num(x, digits=None):
    if x is None:
        return "–"
    if digits is None:
        digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:,.{digits}f}"


class Figures:
    """The figures the ratios and targets need, picked out of the rows."""

    def __init__(self, rows):
        self.rows = rows

    def of(self, system, kind, variant=None):
        for r in self.rows:
            if r["system"] == system and r["kind"] == kind:
                if variant is None or variant_of(r) == variant:
                    return r
        return None

    def celery(self, kind):
        return [r for r in self.rows if r["system"].startswith("celery/") and r["kind"] == kind]

    def best_celery(self, kind, key, highest):
        candidates = [r for r in self.celery(kind) if r["count"] > 0]
        if not candidates:
            return None
        return (max if highest else min)(candidates, key=key)

    def scale(self, system):
        """The scale lines of one system: near-empty, retained, sweeping."""
        return [r for r in self.rows if r["system"] == system and r["kind"] == "scale"]

    def peak_rss(self, system):
        values = [r["server_rss_mb"] for r in self.rows
                  if r["system"] == system and r.get("server_rss_mb") is not None]
        return max(values) if values else None


def variant_of(row):
    """bpops measures latency two ways; Celery one (.get(), which pub/sub wakes)."""
    if row["kind"] != "latency":
        return None
    return "sync" if "OperationSync" in row["what"] else "poll"


# --- markdown ---------------------------------------------------------------------------


def markdown(path, svg):
    meta, marks, notes, rows = load(path)
    figures = Figures(rows)
    out = []
    say = out.append

    params = meta.get("params", {})
    mode = meta.get("mode", "?")
    say(f"Run of {meta.get('date', '?')}, `bench/run{' --short' if mode == 'short' else ''}`"
        f" ({mode}: {params.get('operations', '?')} operations from "
        f"{params.get('concurrency', '?')} concurrent clients, {params.get('sequential', '?')}"
        f" sequential, reads for {params.get('read_for', '?')}).")
    if mode == "short":
        say("")
        say("*A short smoke run: the counts are too small for these figures to mean much.*")
    say("")
    m, v = meta.get("machine", {}), meta.get("versions", {})
    say(f"- **Machine**: {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), "
        f"{m.get('memory_gib', '?')} GiB memory, Linux {m.get('kernel', '?')}; load generators"
        " and servers on the same machine, over loopback.")
    if "disk" in m:
        c, f = m["disk"]["sqlite_commit_ms"], m["disk"]["fdatasync_ms"]
        say(f"- **Disk** (the temporary directory, where `bpops bench` keeps its SQLite file):"
            f" a one-row SQLite commit in WAL mode with synchronous = FULL takes p50 {c['p50']}"
            f" ms, p99 {c['p99']} ms; a bare fdatasync of a 4 KiB overwrite p50 {f['p50']} ms,"
            f" p99 {f['p99']} ms. Every acknowledged operation pays at least one such commit.")
    if marks:
        loads = "; ".join(f"{mk['mark']} {' / '.join(f'{x:.1f}' for x in mk['loadavg'])}"
                          for mk in marks)
        say(f"- **Load average** (1 / 5 / 15 min): {loads}.")
    parts = [v.get("bpops", "bpops ?") + (f" ({v['commit']})" if "commit" in v else "")]
    for key in ("rustc", "postgresql", "python", "celery", "kombu", "redis-py", "billiard",
                "gevent", "redis-server", "huey", "psycopg", "node", "graphile-worker", "pg",
                "bullmq", "ioredis"):
        if key in v:
            value = v[key]
            label = {"postgresql": "PostgreSQL", "celery": "Celery", "huey": "Huey",
                     "bullmq": "BullMQ", "node": "Node.js"}.get(key, key)
            parts.append(value if key in ("rustc", "python") else f"{label} {value}")
    say("- **Versions**: " + ", ".join(parts) + ".")
    concurrency = {}
    for r in rows:
        if r.get("worker_concurrency"):
            concurrency.setdefault(r["system"], {})[r["worker_concurrency"]] = None
    if concurrency:
        said = ", ".join(f"{system_name(s)} {' / '.join(map(str, c))}"
                         for s, c in concurrency.items())
        say(f"- **Peers' worker concurrency** (tasks run at once; a second figure is the"
            f" in-flight scenario's): {said}.")
    say("")

    order = ordered_systems(rows)
    side_by_side(figures, order, say)

    say("### Absolute figures")
    say("")
    say("| system | scenario | count | per second | p50 ms | p90 ms | p99 ms | max ms "
        "| errors | server RSS MB |")
    say("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in [k for k, _ in KINDS] + ["latency", "scale"]:
        for system in order:
            for r in rows:
                if r["system"] == system and r["kind"] == kind:
                    l = r["latency_ms"]
                    say(f"| {system_name(system)} | {r['what']} | {r['count']:,} "
                        f"| {num(r['per_second'])} | {num(l['p50'])} | {num(l['p90'])} "
                        f"| {num(l['p99'])} | {num(l['max'])} | {r['errors']} "
                        f"| {num(r.get('server_rss_mb'), 0)} |")
    say("")
    say("Throughput's latencies are those of one submit call; its rate counts until every"
        " operation is final. Server RSS: bpops's peak RSS (VmHWM) so far; Celery's the peak"
        " summed PSS of its worker processes and redis-server.")
    say("")

    bpops = [s for s in order if s.startswith("bpops/")]
    if any(r["kind"] == "scale" for r in rows):
        scale(figures, bpops, say)
    if bpops and figures.celery("throughput") + figures.celery("read") + figures.celery("latency"):
        ratios(figures, bpops, say)
    targets(figures, say)

    if notes:
        say("")
        say("Notes:")
        say("")
        for note in notes:
            say(f"- {' '.join(note.split())}")
    print("\n".join(out))
    if svg:
        with open(svg, "w") as f:
            f.write(chart(figures, order, meta))


def side_by_side(figures, order, say):
    """One line per system: its durability and its headline figure in each scenario (the
    best variant where a system measures one several ways)."""
    say("### Side by side")
    say("")
    say("What an acknowledged operation survives, and the rate of each scenario (operations"
        " or reads per second; higher is better), then one-at-a-time latency. – : not run.")
    say("")
    say("| system | durability | " + " | ".join(title for _, title in KINDS)
        + " | latency p50 / p99 ms | peak RSS MB |")
    say("|---|---|" + "---:|" * (len(KINDS) + 2))
    for system in order:
        cells = []
        for kind, _ in KINDS:
            found = [r for r in figures.rows if r["system"] == system and r["kind"] == kind]
            cells.append(" / ".join(num(r["per_second"]) for r in found) if found else "–")
        latencies = [r for r in figures.rows if r["system"] == system and r["kind"] == "latency"]
        best = min(latencies, key=lambda r: r["latency_ms"]["p50"], default=None)
        latency = (f"{num(best['latency_ms']['p50'])} / {num(best['latency_ms']['p99'])}"
                   if best else "–")
        say(f"| {system_name(system)} | {durability(system, figures.rows)} | "
            + " | ".join(cells) + f" | {latency} | {num(figures.peak_rss(system), 0)} |")
    say("")
    say("Where a cell holds two figures, the system ran that scenario two ways (bpops's queued"
        " path: emulated 1 ms latency / a declared HTTP operation); the absolute figures below"
        " name each. Latency: the best of a system's variants.")
    say("")


def ratios(figures, bpops, say):
    say("### bpops / Celery")
    say("")
    say("Each figure against Celery's best pool for that figure (named). Throughput and reads:"
        " bpops ÷ Celery; latency and RSS: Celery ÷ bpops; so above 1 means bpops is better.")
    say("")
    say("| figure | " + " | ".join(system_name(s) for s in bpops)
        + " | Celery, best pool | " + " | ".join(f"ratio, {system_name(s)}" for s in bpops)
        + " |")
    say("|---|" + "---:|" * (2 * len(bpops) + 1))

    def line(label, ours, best, value, unit, higher_is_better):
        if best is None:
            return
        theirs = value(best)
        cells = [num(value(r)) if r else "–" for r in ours]
        ratio = []
        for r in ours:
            if r is None or not value(r) or not theirs:
                ratio.append("–")
            else:
                x = value(r) / theirs if higher_is_better else theirs / value(r)
                ratio.append(f"**{x:,.1f}×**")
        pool = best["system"].split("/", 1)[1]
        say(f"| {label} | " + " | ".join(f"{c} {unit}" if c != "–" else c for c in cells)
            + f" | {num(theirs)} {unit} ({pool}) | " + " | ".join(ratio) + " |")

    per_second = lambda r: r["per_second"]
    line("throughput, end to end", [figures.of(s, "throughput") for s in bpops],
         figures.best_celery("throughput", per_second, True), per_second, "ops/s", True)
    line("reads", [figures.of(s, "read") for s in bpops],
         figures.best_celery("read", per_second, True), per_second, "req/s", True)
    for variant, label in (("poll", "ASync + Get"), ("sync", "ExecuteOperationSync")):
        for q in ("p50", "p99"):
            value = lambda r, q=q: r["latency_ms"][q]
            line(f"latency {q}, {label} vs apply_async + get",
                 [figures.of(s, "latency", variant) for s in bpops],
                 figures.best_celery("latency", value, False), value, "ms", False)
    rss = {s: figures.peak_rss(s) for s in bpops}
    celery_rss = [(figures.peak_rss(s), s) for s in {r["system"] for r in figures.rows}
                  if s.startswith("celery/") and figures.peak_rss(s) is not None]
    if celery_rss:
        lightest, pool = min(celery_rss)
        cells = [f"{num(rss[s], 0)} MB" if rss[s] else "–" for s in bpops]
        ratio = [f"**{lightest / rss[s]:,.1f}×**" if rss[s] else "–" for s in bpops]
        say(f"| peak server memory | " + " | ".join(cells)
            + f" | {num(lightest, 0)} MB ({pool.split('/', 1)[1]}) | " + " | ".join(ratio) + " |")
    say("")


def scale(figures, bpops, say):
    """The scale scenario's lines side by side: reads offered at one fixed rate in each
    phase, so their p99s compare; the bulk load before a phase; the sweep during the last."""
    say("### Reads at scale")
    say("")
    say("Open-loop reads at a fixed offered rate, latency from each request's scheduled send"
        " time, ids picked uniformly among all retained operations. The store is bulk-loaded"
        " while the server is stopped; in the last phase the sweeper deletes the expired"
        " operations from the server's start, and only reads during the sweep count.")
    say("")
    say("| system | phase | offered req/s | window s | p99 ms | p99 ÷ near-empty | load s "
        "| sweep s | swept per second | server RSS MB |")
    say("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for system in bpops:
        for r in figures.scale(system):
            x = r.get("scale", {})
            ratio = x.get("p99_vs_near_empty")
            say(f"| {system_name(system)} | {r['what'].removeprefix('scale: read, ')} "
                f"| {num(x.get('offered_per_second'))} | {num(x.get('window_s'), 1)} "
                f"| {num(r['latency_ms']['p99'])} "
                f"| {'–' if ratio is None else f'{ratio:.2f}×'} | {num(x.get('load_s'), 1)} "
                f"| {num(x.get('sweep_s'), 1)} | {num(x.get('swept_per_second'))} "
                f"| {num(r.get('server_rss_mb'), 0)} |")
    say("")


def targets(figures, say):
    """The targets of issue 6 next to the figures, each judged met or not."""
    say("### Targets of issue 6")
    say("")
    say("| target | figure | met |")
    say("|---|---|---|")

    def judge(label, value, goal, at_least, unit):
        if value is None:
            say(f"| {label} | not measured | – |")
            return
        met = value >= goal if at_least else value <= goal
        shown = f"{value:.2f}×" if unit == "×" else f"{num(value)} {unit}"
        say(f"| {label} | {shown} | {'yes' if met else '**no**'} |")

    sqlite_throughput = figures.of("bpops/sqlite", "throughput")
    judge("SQLite end-to-end throughput ≥ 10,000 ops/s",
          sqlite_throughput and sqlite_throughput["per_second"], 10_000, True, "ops/s")
    best = figures.best_celery("throughput", lambda r: r["per_second"], True)
    judge("… and ≥ 20× Celery + Redis (best pool)",
          sqlite_throughput and best and sqlite_throughput["per_second"] / best["per_second"],
          20, True, "×")
    read = figures.of("bpops/sqlite", "read")
    judge("signed GetExecuteOperationResult ≥ 20,000 req/s (SQLite)",
          read and read["per_second"], 20_000, True, "req/s")
    for variant, label in (("poll", "ASync + Get"), ("sync", "ExecuteOperationSync")):
        r = figures.of("bpops/sqlite", "latency", variant)
        judge(f"submit → SUCCESS p50 ≤ 1 ms ({label}, SQLite)",
              r and r["latency_ms"]["p50"], 1, False, "ms")
        judge(f"submit → SUCCESS p99 ≤ 3 ms ({label}, SQLite)",
              r and r["latency_ms"]["p99"], 3, False, "ms")
    for system in ("bpops/sqlite", "bpops/postgres"):
        judge(f"server RSS ≤ 150 MB throughout ({system_name(system)})",
              figures.peak_rss(system), 150, False, "MB")
    pg = figures.of("bpops/postgres", "throughput")
    judge("PostgreSQL end-to-end throughput ≥ 3,000 ops/s", pg and pg["per_second"],
          3_000, True, "ops/s")
    for system in ("bpops/sqlite", "bpops/postgres"):
        phase = {r["scale"]["phase"]: r for r in figures.scale(system)}
        retained, sweeping = phase.get("retained"), phase.get("sweeping")
        # The issue speaks of 1,000,000; a run with another N says which.
        n = f"{(sweeping or retained)['scale']['loaded']:,}" if sweeping or retained \
            else "1,000,000"
        judge(f"read p99 with {n} retained operations ≤ 1.5× near-empty "
              f"({system_name(system)})",
              retained and retained["scale"].get("p99_vs_near_empty"), 1.5, False, "×")
        judge(f"read p99 while sweeping {n} expired operations ≤ 2× near-empty "
              f"({system_name(system)})",
              sweeping and sweeping["scale"].get("p99_vs_near_empty"), 2, False, "×")


# --- chart ------------------------------------------------------------------------------


def chart(figures, order, meta):
    """A panel of horizontal bars per scenario (closed loop, burn-down, queued path, in flight,
    reads) and one of sequential latency (p50 dark, p99 pale behind it), every system that
    ran it in each, coloured by system. Hand-written SVG: each bar is a rect scaled to its
    panel's largest value."""
    panels = []
    for kind, title, unit in (("throughput", "Closed loop, end to end", "ops/s"),
                              ("burn-down", "Burn-down: N queued, then drained", "ops/s"),
                              ("queued path", "Queued path: through a worker", "ops/s"),
                              ("in flight", "In flight: operations that wait 1 s", "ops/s"),
                              ("read", "Reads by id", "req/s")):
        bars = [(system_name(s) + variant_label(r), r["per_second"], None, s)
                for s in order for r in figures.rows if r["system"] == s and r["kind"] == kind]
        if bars:
            panels.append((f"{title} ({unit}, higher is better)", bars))
    bars = []
    for s in order:
        for r in figures.rows:
            if r["system"] == s and r["kind"] == "latency":
                label = system_name(s)
                if s.startswith("bpops/"):
                    label += ", sync" if variant_of(r) == "sync" else ", ASync + Get"
                bars.append((label, r["latency_ms"]["p50"], r["latency_ms"]["p99"], s))
    panels.append(("Sequential submit → result latency (ms, p50 dark, p99 pale; lower is better)",
                   bars))

    width, label_w, bar_h, gap = 900, 250, 18, 6
    plot_w = width - label_w - 190  # room on the right for the value labels
    parts, y = [], 30
    parts.append(f'<text x="10" y="20" font-size="14" font-weight="bold">bpops and its peers'
                 f' — {escape(meta.get("date", ""))}, {escape(meta.get("mode", ""))} run</text>')
    # Which bars mean less than bpops's guarantee: their acknowledgement is not synced.
    unsynced = [system_name(s) for s in order
                if not durability(s, figures.rows).startswith(("fsync before", "fsync per"))]
    if unsynced:
        y += 18
        parts.append(f'<text x="10" y="{y}" font-size="12">Not synced to disk before'
                     f' acknowledging: {escape("; ".join(unsynced))}</text>')
        y += 6
    for title, bars in panels:
        y += 20
        parts.append(f'<text x="10" y="{y}" font-size="13" font-weight="bold">'
                     f'{escape(title)}</text>')
        y += 8
        top = max([b[1] for b in bars] + [b[2] or 0 for b in bars] + [1e-9])
        for label, value, p99, system in bars:
            colour = COLOURS.get(system.split("/")[0], "#718096")
            parts.append(f'<text x="{label_w - 8}" y="{y + 13}" font-size="12" '
                         f'text-anchor="end">{escape(label)}</text>')
            text, right = num(value), max(value / top * plot_w, 1)
            if p99 is not None:  # p99 as a pale bar behind the p50 one
                right = max(p99 / top * plot_w, 1)
                parts.append(f'<rect x="{label_w}" y="{y}" width="{right:.1f}" '
                             f'height="{bar_h}" fill="{colour}" fill-opacity="0.3"/>')
                text = f"p50 {num(value)}, p99 {num(p99)}"
            parts.append(f'<rect x="{label_w}" y="{y}" width="{max(value / top * plot_w, 1):.1f}"'
                         f' height="{bar_h}" fill="{colour}"/>')
            parts.append(f'<text x="{label_w + right + 6:.1f}" y="{y + 13}" font-size="12">'
                         f'{escape(text)}</text>')
            y += bar_h + gap
        y += 10
    height = y + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(parts) + "\n</svg>\n")


# One colour per system family.
COLOURS = {"bpops": "#2b6cb0", "celery": "#dd6b20", "huey": "#38a169",
           "graphile-worker": "#805ad5", "bullmq": "#c53030"}


def variant_label(row):
    """', emulated 1 ms' or ', declared HTTP' for bpops's two queued paths; else nothing."""
    if row["kind"] == "queued path" and row["system"].startswith("bpops/"):
        return ", declared HTTP" if "http" in row["what"] else ", emulated 1 ms"
    return ""


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    parser = argparse.ArgumentParser(description="bench/run's reporting helper")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("meta")
    p.add_argument("--mode", required=True)
    p.add_argument("--bpops", required=True)
    p.add_argument("--celery-python")
    p.add_argument("--huey-python")
    p.add_argument("--node-peers", nargs="*", default=[], help="Node.js harness directories")
    p.add_argument("--postgres-url")
    p.add_argument("--params", nargs="*", default=[], help="name=value ...")
    sub.add_parser("mark").add_argument("label")
    sub.add_parser("note").add_argument("text")
    sub.add_parser("tag").add_argument("system")
    p = sub.add_parser("markdown")
    p.add_argument("run")
    p.add_argument("--svg")
    args = parser.parse_args()
    if args.command == "meta":
        write_meta(args)
    elif args.command == "mark":
        print(json.dumps({"mark": args.label, "loadavg": [round(x, 2) for x in os.getloadavg()]}))
    elif args.command == "note":
        print(json.dumps({"note": args.text}))
    elif args.command == "tag":
        tag(args.system)
    else:
        markdown(args.run, args.svg)


if __name__ == "__main__":
    main()
