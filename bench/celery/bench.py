"""The job `bpops bench` measures, done by Celery with Redis as broker and result backend.

For each worker pool under test this starts a private redis-server on a free loopback port
and a Celery worker using that pool, runs the scenarios of `bpops bench`, and prints one JSON
line per scenario in the same shape as `bpops bench --json`:

    {"scenario": "celery/<pool>: ...", "count", "per_second",
     "latency_ms": {"p50", "p90", "p99", "max"}, "errors", "server_rss_mb"}

    bench/venv bench/celery && bench/celery/.venv/bin/python bench/celery/bench.py --short

The scenarios, like bpops's:
  burn-down   N no-op tasks sent while no worker runs; then the worker starts, and the time
              runs from its start until every result is in (join_native).
  throughput  N tasks submitted (apply_async) from C client threads; the rate counts from the
              first submit until every result is in the result backend (end to end).
              latency_ms is the time of one apply_async call, as bpops reports its submits.
  queued-path the same as throughput with a task that POSTs to a local HTTP endpoint.
  in-flight   F tasks that each sleep 1 s, on a gevent pool of F greenlets (its own run).
  latency     one task at a time: apply_async, then .get() its result.
  read        C client threads fetching the state and result of existing tasks by id
              (AsyncResult(id).state and .result: one GET of the result key each) for D s.

server_rss_mb is the peak, since the worker started, of the summed proportional set size
(PSS) of redis-server and every worker process, sampled every 0.25 s. PSS rather than RSS so
that pages the prefork children share with their parent are counted once.

The worker imports this file as its Celery app (`celery -A bench worker`), so everything
outside main() must be import-safe; the broker URL reaches it through BENCH_REDIS_URL.
"""

import argparse
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import time

from celery import Celery
from celery.result import ResultSet

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from peers import (  # noqa: E402  (bench/peers.py)
    Endpoint, Rss, arguments, call_endpoint, cpu_seconds, free_port, note, report, run_threads,
    settle, start, stop, tail,
)

HERE = os.path.dirname(os.path.abspath(__file__))
TASK = "bench.noop"
CALL = "bench.call"  # the queued path's task: one HTTP POST to the harness's endpoint
WAIT = "bench.wait"  # the in-flight scenario's task: a one-second sleep
# What an acknowledgement is worth here: nothing survives a crash of Redis.
DURABILITY = "none (Redis persists nothing; the worker acknowledges before running)"
INSTANCES = 1024  # as bpops bench spreads its operations over 1024 seeded instances

# The pools measured when --pools names none. On 2 cores: prefork with one process per core;
# threads with more, since a task spends most of its time talking to Redis; solo. gevent
# (try gevent:64) works but needs 3-4x the worker CPU per task of solo here, so it is never
# Celery's best pool and would only make the full run minutes longer.
DEFAULT_POOLS = "prefork:2,threads:8,solo"


def make_app(redis_url):
    """The Celery app: Redis as broker and result backend, JSON; a no-op task, and the
    queued path's HTTP call."""
    app = Celery("bench", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name=TASK, shared=False)
    def noop(instance_id, name):
        # What a rename of bpops's emulated service would answer: a small dict.
        return {"tagMap": {"instanceId": instance_id, "instance_name": name}}

    @app.task(name=CALL, shared=False)
    def call(url):
        return call_endpoint(url)

    @app.task(name=WAIT, shared=False)
    def wait(seconds):
        time.sleep(seconds)  # under the gevent pool, a sleep yields to the other tasks
        return {"waited": seconds}

    return app


# The worker's app (`celery -A bench` finds `app`). A client makes its own in main().
app = make_app(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"))


def task_args(i):
    return (f"i-bench-{i % INSTANCES:04d}", f"bench-{i}")


# --- what is measured -------------------------------------------------------------------


def throughput(app, n, concurrency, name=TASK, arguments_of=task_args):
    """N tasks from C threads; each thread then waits for its own results. The backend's
    result consumer (a Redis pub/sub subscription) is per thread in Celery, so each thread
    collects what it submitted, with ResultSet.join_native: one MGET for what is already
    done, then pub/sub messages for the rest, the cheapest way Celery offers."""
    task = app.tasks[name]
    counter = itertools.count()  # next() on it is atomic under the GIL
    outcome = [None] * concurrency

    def client(k):
        submitted, latencies, errors = [], [], 0
        while (i := next(counter)) < n:
            asked = time.perf_counter()
            try:
                submitted.append(task.apply_async(arguments_of(i)))
                latencies.append(time.perf_counter() - asked)
            except Exception:
                errors += 1
        try:
            ResultSet(submitted, app=app).join_native(timeout=300, propagate=False)
            errors += sum(1 for r in submitted if r.state != "SUCCESS")
        except Exception:
            errors += len(submitted)
        outcome[k] = (latencies, errors)

    started = time.perf_counter()
    run_threads(client, concurrency)
    elapsed = time.perf_counter() - started
    latencies = [x for lat, _ in outcome for x in lat]
    errors = sum(e for _, e in outcome)
    return elapsed, latencies, errors


def latency(app, m):
    """One task at a time: submit, then .get() the result (pub/sub wakes the waiter)."""
    task = app.tasks[TASK]
    latencies, errors = [], 0
    started = time.perf_counter()
    for i in range(m):
        asked = time.perf_counter()
        try:
            task.apply_async(task_args(i)).get(timeout=30)
            latencies.append(time.perf_counter() - asked)
        except Exception:
            errors += 1
    return time.perf_counter() - started, latencies, errors


def finished_tasks(app, n):
    """Ids of n tasks that have run, for the read scenario (bpops bench reads 1000 too)."""
    done = [app.tasks[TASK].apply_async(task_args(i)) for i in range(n)]
    ResultSet(done, app=app).join_native(timeout=120)
    return [r.id for r in done]


def read(app, ids, concurrency, duration):
    """C threads reading the state and result of finished tasks, picked at random."""
    outcome = [None] * concurrency
    deadline = time.perf_counter() + duration

    def client(k):
        pick = random.Random(k)
        latencies, errors = [], 0
        while time.perf_counter() < deadline:
            asked = time.perf_counter()
            try:
                # A fresh AsyncResult holds no cache; result caching in the backend is off by
                # default (result_cache_max = -1), so each read is one GET to Redis.
                r = app.AsyncResult(pick.choice(ids))
                if r.state == "SUCCESS" and r.result is not None:
                    latencies.append(time.perf_counter() - asked)
                else:
                    errors += 1
            except Exception:
                errors += 1
        outcome[k] = (latencies, errors)

    started = time.perf_counter()
    run_threads(client, concurrency)
    elapsed = time.perf_counter() - started
    return elapsed, [x for lat, _ in outcome for x in lat], sum(e for _, e in outcome)


def wait_for_redis(url, redis_process, log_path):
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(200):
        if redis_process.poll() is not None:
            break
        try:
            client.ping()
            return
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start: " + tail(log_path))


def wait_for_worker(client, worker, log_path):
    """Ready when it has run a task; then 20 more, so that nothing is cold when measured."""
    first = client.tasks[TASK].apply_async(task_args(0))
    deadline = time.monotonic() + 60
    while not first.ready():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start: " + tail(log_path))
        time.sleep(0.05)
    for i in range(20):
        client.tasks[TASK].apply_async(task_args(i)).get(timeout=10)


def run_pool(pool, concurrency, args, workdir):
    """Runs every scenario against a fresh redis-server and a worker of `pool`."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_log = os.path.join(workdir, f"redis-{pool}.log")
    worker_log = os.path.join(workdir, f"worker-{pool}.log")
    with open(redis_log, "w") as log:
        redis_process = start(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            log,
        )
    worker = rss = None
    endpoint = Endpoint()
    try:
        wait_for_redis(url, redis_process, redis_log)
        client = make_app(url)
        name = f"celery/{pool}"
        if "burn-down" in args.scenario:
            # Queued while no worker runs; measured from the worker's start.
            queued = [client.tasks[TASK].apply_async(task_args(i))
                      for i in range(args.operations)]
        command = [sys.executable, "-m", "celery", "-A", "bench", "worker", "-P", pool,
                   "--loglevel=WARNING", "-n", f"bench-{pool}@%h",
                   # Cluster chatter that a single worker does not need.
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if concurrency:
            command += ["-c", str(concurrency)]
        env = dict(os.environ, BENCH_REDIS_URL=url, PYTHONPATH=HERE)
        started = time.perf_counter()
        with open(worker_log, "w") as log:
            worker = start(command, log, cwd=HERE, env=env)
        rss = Rss([redis_process.pid, worker.pid])
        if "burn-down" in args.scenario:
            ResultSet(queued, app=client).join_native(timeout=600, propagate=False)
            errors = sum(1 for r in queued if r.state != "SUCCESS")
            found = report(f"{name}: burn-down (N queued, then the worker starts)",
                           args.operations - errors, time.perf_counter() - started, [], errors,
                           rss, DURABILITY)
            found["worker_concurrency"] = concurrency or 1
            print(json.dumps(found), flush=True)

        wait_for_worker(client, worker, worker_log)

        ids = finished_tasks(client, 1000) if "read" in args.scenario else []
        for scenario in (s for s in args.scenario if s != "burn-down"):
            # Where the CPU goes (this client, the worker, Redis): on 2 cores they compete.
            before = (sum(os.times()[:2]), cpu_seconds([worker.pid]),
                      cpu_seconds([redis_process.pid]))
            if scenario == "throughput":
                elapsed, latencies, errors = throughput(client, args.operations, args.concurrency)
                found = report(f"{name}: throughput (submit until ready)",
                               args.operations - min(errors, args.operations), elapsed,
                               latencies, errors, rss, DURABILITY)
            elif scenario == "queued-path":
                elapsed, latencies, errors = throughput(client, args.operations, args.concurrency,
                                                        CALL, lambda i: (endpoint.url,))
                found = report(f"{name}: queued path (HTTP POST task)",
                               args.operations - min(errors, args.operations), elapsed,
                               latencies, errors, rss, DURABILITY)
            elif scenario == "in-flight":
                n = args.in_flight
                elapsed, latencies, errors = throughput(client, n, args.concurrency, WAIT,
                                                        lambda i: (1,))
                found = report(f"{name}: in flight ({n} × 1s sleep)", n - min(errors, n),
                               elapsed, latencies, errors, rss, DURABILITY)
            elif scenario == "latency":
                elapsed, latencies, errors = latency(client, args.sequential)
                found = report(f"{name}: latency (apply_async + get)",
                               len(latencies), elapsed, latencies, errors, rss, DURABILITY)
            else:
                elapsed, latencies, errors = read(client, ids, args.concurrency, args.read_for)
                found = report(f"{name}: read (AsyncResult state + result)",
                               len(latencies), elapsed, latencies, errors, rss, DURABILITY)
            found["worker_concurrency"] = concurrency or 1
            after = (sum(os.times()[:2]), cpu_seconds([worker.pid]),
                     cpu_seconds([redis_process.pid]))
            found["cpu_s"] = {k: round(b - a, 2)
                              for k, a, b in zip(("client", "worker", "redis"), before, after)}
            print(json.dumps(found), flush=True)
    finally:
        endpoint.close()
        if rss:
            rss.close()
        if worker:
            stop(worker)
        stop(redis_process)


def main():
    scenarios = ("burn-down", "throughput", "queued-path", "in-flight", "latency", "read")
    parser = arguments(__doc__.split("\n\n")[0], scenarios, ",".join(scenarios))
    parser.add_argument("--pools", default=DEFAULT_POOLS,
                        help=f"pool[:concurrency],... (default {DEFAULT_POOLS})")
    args = settle(parser, parser.parse_args(), scenarios)
    # In flight runs on a gevent pool of one greenlet per task only: there a sleep holds no
    # slot, where in the other pools each would hold a process or a thread for its second.
    flight = "in-flight" in args.scenario
    args.scenario = [s for s in args.scenario if s != "in-flight"]
    if not shutil.which("redis-server"):
        sys.exit("bench.py: redis-server is not on PATH (apt-get install redis-server)")

    note(f"celery: durability {DURABILITY}")
    failed = 0
    runs = [(spec, args) for spec in args.pools.split(",") if spec.strip() and args.scenario]
    if flight:
        runs.append((f"gevent:{args.in_flight}",
                     argparse.Namespace(**{**vars(args), "scenario": ["in-flight"]})))
    with tempfile.TemporaryDirectory(prefix="celery-bench-") as workdir:
        for spec, measured in runs:
            pool, _, concurrency = spec.strip().partition(":")
            try:
                run_pool(pool, int(concurrency) if concurrency else None, measured, workdir)
            except Exception as error:
                # One pool failing (gevent not installed, say) leaves the others measured.
                failed += 1
                note(f"celery/{pool}: not measured: {error}")
    sys.exit(1 if failed == len(runs) else 0)


if __name__ == "__main__":
    main()
