"""The job `bpops bench` measures, done by Huey on both of bpops's storage backends: SqliteHuey
on a file in a temporary directory (the disk bpops bench's SQLite file is on) and PostgresHuey
on the local PostgreSQL. The same task code runs on both. One JSON line per scenario, in the
shape of `bpops bench --json` (see bench/peers.py), each with its durability.

    bench/venv bench/huey && bench/huey/.venv/bin/python bench/huey/bench.py --short \\
        --postgres-url postgres://postgres@127.0.0.1:5432/bench_peers

Scenarios (a task's result, stored by Huey, is what tells that it is final):
  burn-down    N no-op tasks enqueued while no consumer runs; then the consumer starts, and
               the time runs from its start until every result is stored.
  throughput   C client threads enqueue N no-op tasks; counted from the first enqueue until
               every result is stored (closed loop, end to end). latency_ms: one enqueue.
  queued-path  the same with a task that POSTs to a local HTTP endpoint, as bpops's http
               executor does.
  in-flight    F tasks that each sleep 1 s, on a consumer of --flight-workers threads (a
               sleeping Huey task holds a worker thread), until every result is stored.
  latency      one at a time: enqueue, then read the result every 0.5 ms until it is there.
  read         C client threads reading results of 1,000 finished tasks by id, for D s.

The consumer runs --workers threads polling every 1 ms (at most 10 ms when idle) instead of
Huey's default 0.1-10 s, so that polling does not decide its latency. server_rss_mb is the
peak summed PSS of the consumer's processes (not PostgreSQL's, as for bpops).

The consumer imports this file (`huey_consumer bench.huey`); everything outside main() must
be import-safe. It learns its storage from BENCH_HUEY_STORAGE.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import peers  # noqa: E402  (bench/peers.py)

from huey import MemoryHuey, PostgresHuey, SqliteHuey  # noqa: E402

SCENARIOS = ("burn-down", "throughput", "queued-path", "in-flight", "latency", "read")
INSTANCES = 1024  # as bpops bench spreads its operations over 1024 seeded instances


def make_huey(storage):
    """sqlite:PATH or postgres:URL; durable on both: SQLite syncs each commit (synchronous =
    FULL, as bpops's store), PostgreSQL commits as its synchronous_commit says. None: the
    parent process, which only starts one process per backend."""
    if storage is None:
        return MemoryHuey("bench")
    kind, _, where = storage.partition(":")
    if kind == "sqlite":
        return SqliteHuey("bench", filename=where, fsync=True)
    return PostgresHuey("bench", dsn=where)


huey = make_huey(os.environ.get("BENCH_HUEY_STORAGE"))


@huey.task()
def noop(instance_id, name):
    # What a rename of bpops's emulated service would answer: a small dict.
    return {"tagMap": {"instanceId": instance_id, "instance_name": name}}


@huey.task()
def call(url):
    return peers.call_endpoint(url)


@huey.task()
def wait(seconds):
    time.sleep(seconds)
    return {"waited": seconds}


def rename(i):
    return noop.s(f"i-bench-{i % INSTANCES:04d}", f"bench-{i}")


# --- what is measured -------------------------------------------------------------------


def until_stored(n, deadline_s=600):
    """Waits until n results are stored, counted from the store (1 ms apart)."""
    deadline = time.monotonic() + deadline_s
    while huey.result_count() < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {huey.result_count()} of {n} results after {deadline_s} s")
        time.sleep(0.001)


def closed_loop(n, concurrency, signature):
    """C threads enqueue n tasks (signature(i)); the time until every result is stored."""
    huey.storage.flush_results()
    counter, lock = iter(range(n)), threading.Lock()
    outcome = [None] * concurrency

    def client(k):
        latencies, errors = [], 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            asked = time.perf_counter()
            try:
                huey.enqueue(signature(i))
                latencies.append(time.perf_counter() - asked)
            except Exception:
                errors += 1
        outcome[k] = (latencies, errors)

    started = time.perf_counter()
    peers.run_threads(client, concurrency)
    errors = sum(e for _, e in outcome)
    until_stored(n - errors)
    return time.perf_counter() - started, [x for lat, _ in outcome for x in lat], errors


def latency(m):
    huey.storage.flush_results()
    latencies, errors = [], 0
    started = time.perf_counter()
    for i in range(m):
        asked = time.perf_counter()
        try:
            result = huey.enqueue(rename(i))
            deadline = time.monotonic() + 30
            while result.get(preserve=True) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError
                time.sleep(0.0005)
            latencies.append(time.perf_counter() - asked)
        except Exception:
            errors += 1
    return time.perf_counter() - started, latencies, errors


def read(concurrency, duration):
    huey.storage.flush_results()
    ids = [huey.enqueue(rename(i)).id for i in range(1000)]
    until_stored(len(ids))
    outcome = [None] * concurrency
    deadline = time.perf_counter() + duration

    def client(k):
        import random

        pick = random.Random(k)
        latencies, errors = [], 0
        while time.perf_counter() < deadline:
            asked = time.perf_counter()
            try:
                if huey.result(pick.choice(ids), preserve=True) is not None:
                    latencies.append(time.perf_counter() - asked)
                else:
                    errors += 1
            except Exception:
                errors += 1
        outcome[k] = (latencies, errors)

    started = time.perf_counter()
    peers.run_threads(client, concurrency)
    return (time.perf_counter() - started, [x for lat, _ in outcome for x in lat],
            sum(e for _, e in outcome))


# --- the consumer -----------------------------------------------------------------------


class Consumer:
    """A huey_consumer process of `workers` threads on `storage`, torn down by close()."""

    def __init__(self, storage, workers, log_path, rss):
        command = [os.path.join(os.path.dirname(sys.executable), "huey_consumer"),
                   "bench.huey", "-w", str(workers), "-k", "thread", "-d", "0.001",
                   "-m", "0.01", "-b", "1.1", "-C", "-q"]
        env = dict(os.environ, BENCH_HUEY_STORAGE=storage,
                   PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]))
        with open(log_path, "a") as log:
            self.process = peers.start(command, log, cwd=os.path.dirname(HERE), env=env)
        rss.add(self.process.pid)

    def close(self):
        peers.stop(self.process)


def warm_up(log_path):
    """Ready when it has run a task; then 20 more, one at a time, so nothing is cold."""
    huey.storage.flush_results()
    first = huey.enqueue(rename(0))
    peers.wait_until(lambda: first.get(preserve=True) is not None, lambda: True,
                     "the Huey consumer", log_path)
    for i in range(20):
        huey.enqueue(rename(i)).get(blocking=True, timeout=10)


def run_backend(system, durability, args, workdir):
    """Every scenario on this process's storage (BENCH_HUEY_STORAGE)."""
    storage = os.environ["BENCH_HUEY_STORAGE"]
    huey.flush()
    log_path = os.path.join(workdir, f"{system.replace('/', '-')}.log")
    rss = peers.Rss([])
    endpoint = peers.Endpoint()
    consumer = None

    def emit(what, count, elapsed, latencies, errors):
        line = peers.report(f"{system}: {what}", count, elapsed, latencies, errors, rss,
                            durability)
        line["worker_concurrency"] = workers
        peers.emit(line)

    try:
        workers = args.workers
        if "burn-down" in args.scenario:
            for i in range(args.operations):
                huey.enqueue(rename(i))
            started = time.perf_counter()
            consumer = Consumer(storage, workers, log_path, rss)
            until_stored(args.operations)
            emit("burn-down (N queued, then the consumer starts)", args.operations,
                 time.perf_counter() - started, [], 0)
        if consumer is None:
            consumer = Consumer(storage, workers, log_path, rss)
        warm_up(log_path)
        for scenario in args.scenario:
            if scenario == "throughput":
                emit("throughput (submit until final)", args.operations,
                     *closed_loop(args.operations, args.concurrency, rename))
            elif scenario == "queued-path":
                emit("queued path (HTTP POST task)", args.operations,
                     *closed_loop(args.operations, args.concurrency,
                                  lambda i: call.s(endpoint.url)))
            elif scenario == "latency":
                elapsed, latencies, errors = latency(args.sequential)
                emit("latency (enqueue + result)", len(latencies), elapsed, latencies, errors)
            elif scenario == "read":
                elapsed, latencies, errors = read(args.concurrency, args.read_for)
                emit("read (result by id)", len(latencies), elapsed, latencies, errors)
        if "in-flight" in args.scenario:
            consumer.close()
            workers = args.flight_workers
            consumer = Consumer(storage, workers, log_path, rss)
            warm_up(log_path)
            n = args.in_flight
            elapsed, latencies, errors = closed_loop(n, args.concurrency, lambda i: wait.s(1))
            emit(f"in flight ({n} × 1s sleep)", n - errors, elapsed, latencies, errors)
    finally:
        if consumer:
            consumer.close()
        rss.close()
        endpoint.close()


def synchronous_commit(url):
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute("show synchronous_commit").fetchone()[0]


def main():
    parser = peers.arguments(__doc__.split("\n\n")[0], SCENARIOS, ",".join(SCENARIOS))
    parser.add_argument("--postgres-url", help="PostgresHuey's database; without it, SQLite only")
    parser.add_argument("--workers", type=int, default=8,
                        help="consumer threads (default 8)")
    parser.add_argument("--flight-workers", type=int, default=100,
                        help="consumer threads of the in-flight scenario (default 100)")
    args = peers.settle(parser, parser.parse_args(), SCENARIOS)
    if args.workers <= 0 or args.flight_workers <= 0:
        parser.error("--workers and --flight-workers must be positive")
    if "BENCH_HUEY_SYSTEM" in os.environ:  # one backend, in the process its tasks live in
        with tempfile.TemporaryDirectory(prefix="huey-bench-") as workdir:
            run_backend(os.environ["BENCH_HUEY_SYSTEM"], os.environ["BENCH_HUEY_DURABILITY"],
                        args, workdir)
        return

    failed = 0
    with tempfile.TemporaryDirectory(prefix="huey-bench-") as workdir:
        backends = [("huey/sqlite", "sqlite:" + os.path.join(workdir, "huey.db"),
                     "fsync per commit (SQLite WAL, synchronous = FULL)")]
        if args.postgres_url:
            try:
                mode = synchronous_commit(args.postgres_url)
                backends.append(("huey/postgres", "postgres:" + args.postgres_url,
                                 f"fsync per commit (PostgreSQL synchronous_commit = {mode})"))
            except Exception as error:
                failed += 1
                peers.note(f"huey/postgres: not measured: {error}")
        for system, storage, durability in backends:
            peers.note(f"{system}: {durability}; {args.workers} consumer threads "
                       f"({args.flight_workers} for in flight, where a sleep holds one)")
            # Each backend in a process of its own, whose module-level `huey` is that one.
            env = dict(os.environ, BENCH_HUEY_STORAGE=storage, BENCH_HUEY_SYSTEM=system,
                       BENCH_HUEY_DURABILITY=durability)
            done = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:]],
                                  env=env, stdout=sys.stdout, stderr=subprocess.PIPE, text=True)
            if done.returncode != 0:
                failed += 1
                why = (done.stderr.strip().splitlines() or ["no message"])[-1]
                peers.note(f"{system}: not measured: {why}")
    sys.exit(1 if failed and failed >= len(backends) else 0)


if __name__ == "__main__":
    # Huey names a task after its module: the client's must be `bench`, as the consumer's.
    sys.path.insert(0, HERE)
    import bench

    bench.main()
