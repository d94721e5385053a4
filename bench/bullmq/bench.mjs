// The job `bpops bench` measures, done by BullMQ on a redis-server of its own that appends
// every write to its log and syncs it (`appendonly yes`, `appendfsync always`: durable before
// Redis answers), and again with `appendfsync everysec` (up to a second of acknowledged jobs
// lost to a crash). One JSON line per scenario, in the shape of `bpops bench --json`, each
// with its durability (see bench/peers.mjs).
//
//   (cd bench/bullmq && npm ci) && node bench/bullmq/bench.mjs --short
//
// Scenarios (a job's completion, counted by Redis, is what tells that it is final):
//   burn-down    N no-op jobs added while no worker runs; then the worker process starts, and
//                the time runs from its start until all are completed.
//   throughput   C async clients add N no-op jobs; counted from the first add until all are
//                completed (closed loop, end to end). latency_ms: one add.
//   queued-path  the same with a job that POSTs to a local HTTP endpoint.
//   in-flight    F jobs that each sleep 1 s (a timer: a worker of concurrency F holds them
//                all at once), until all are completed.
//   latency      one at a time: add, then waitUntilFinished (QueueEvents, a Redis stream).
//   read         C clients reading the state and return value of 1,000 finished jobs by id.
//
// The worker is a process of its own (`bench.mjs --worker`), as Celery's and Huey's are;
// server_rss_mb is the peak summed PSS of the worker and redis-server.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Job, Queue, QueueEvents, Worker } from "bullmq";
import * as peers from "../peers.mjs";

const SCENARIOS = ["burn-down", "throughput", "queued-path", "in-flight", "latency", "read"];
const QUEUE = "bench";
const HERE = fileURLToPath(import.meta.url);

if (process.argv.includes("--worker")) {
  await worker();
} else {
  await main();
}

/** The worker process: BullMQ_WORKER_CONCURRENCY jobs at once on BENCH_REDIS_PORT. */
async function worker() {
  const connection = { host: "127.0.0.1", port: Number(process.env.BENCH_REDIS_PORT) };
  const run = new Worker(
    QUEUE,
    async (job) => {
      switch (job.name) {
        case "rename":
          return { tagMap: { instanceId: job.data.instanceId, instance_name: job.data.name } };
        case "call":
          return peers.callEndpoint(job.data.url);
        case "wait":
          await peers.sleep(job.data.ms);
          return { waited: job.data.ms };
        default:
          throw new Error(`unknown job ${job.name}`);
      }
    },
    { connection, concurrency: Number(process.env.BENCH_WORKER_CONCURRENCY) },
  );
  process.on("SIGTERM", async () => {
    await run.close();
    process.exit(0);
  });
}

async function main() {
  const args = peers.parse(SCENARIOS, {
    workers: { type: "string", default: "8" },
    fsync: { type: "string", default: "always,everysec" },
  });
  const modes = args.fsync.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = modes.filter((m) => !["always", "everysec", "no"].includes(m));
  if (bad.length || !(Number(args.workers) > 0)) {
    console.error("--fsync: always, everysec or no; --workers: a positive integer");
    process.exit(2);
  }
  let failed = 0;
  for (const mode of modes) {
    const durability =
      mode === "always"
        ? "fsync before acknowledging (Redis appendonly, appendfsync always)"
        : mode === "everysec"
          ? "fsync every second (Redis appendonly, appendfsync everysec): up to 1 s lost"
          : "no fsync (Redis appendonly, appendfsync no)";
    peers.note(`bullmq/${mode}: ${durability}; worker concurrency ${args.workers} (in flight: one per job)`);
    try {
      await measure(`bullmq/${mode}`, mode, durability, args);
    } catch (error) {
      failed += 1;
      peers.note(`bullmq/${mode}: not measured: ${String(error.message ?? error).split("\n")[0]}`);
    }
  }
  process.exit(failed === modes.length ? 1 : 0);
}

/** Every scenario against a fresh redis-server with `appendfsync mode`. */
async function measure(system, mode, durability, args) {
  const dir = mkdtempSync(join(tmpdir(), "bullmq-bench-"));
  const port = await peers.freePort();
  const redis = peers.start(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
      "--appendonly", "yes", "--appendfsync", mode],
    join(dir, "redis.log"),
  );
  await peers.listening(port);
  const connection = { host: "127.0.0.1", port };
  const rss = new peers.Rss([redis.pid]);
  const endpoint = await peers.endpoint();
  const queue = new Queue(QUEUE, { connection });
  const events = new QueueEvents(QUEUE, { connection });
  let workerProcess = null;
  const startWorker = (concurrency) => {
    workerProcess = peers.start(process.execPath, [HERE, "--worker"], join(dir, "worker.log"), {
      BENCH_REDIS_PORT: String(port),
      BENCH_WORKER_CONCURRENCY: String(concurrency),
    });
    rss.pids.push(workerProcess.pid);
  };
  const stopWorker = async () => {
    await peers.stop(workerProcess);
    rss.pids = rss.pids.filter((p) => p !== workerProcess.pid);
  };
  const completed = async () => (await queue.getJobCounts("completed")).completed;
  const failedJobs = async () => (await queue.getJobCounts("failed")).failed;
  const line = (what, figures, concurrency) =>
    peers.emit(`${system}: ${what}`, figures, rss, { durability, worker_concurrency: concurrency });
  // Adds n jobs from C clients (add(i)), then counts until all are completed.
  const closedLoop = async (n, add) => {
    const [doneBefore, failedBefore] = [await completed(), await failedJobs()];
    const started = peers.now();
    const { latencies, errors } = await peers.clients(n, args.concurrency, add);
    await peers.until(async () => (await completed()) + (await failedJobs()) - doneBefore - failedBefore >= n - errors);
    const elapsed = (peers.now() - started) / 1000;
    const all = errors + (await failedJobs()) - failedBefore;
    return { count: n - Math.min(all, n), elapsed, latencies, errors: all };
  };
  const rename = (i) => queue.add("rename", peers.renameArgs(i));
  try {
    const workers = Number(args.workers);
    if (args.scenario.includes("burn-down")) {
      for (let i = 0; i < args.operations; i += 1) await rename(i);
      const started = peers.now();
      startWorker(workers);
      await peers.until(async () => (await completed()) >= args.operations);
      line("burn-down (N queued, then the worker starts)",
        { count: args.operations, elapsed: (peers.now() - started) / 1000 }, workers);
    } else {
      startWorker(workers);
    }
    for (let i = 0; i < 20; i += 1) await (await rename(i)).waitUntilFinished(events, 30_000);
    for (const scenario of args.scenario) {
      if (scenario === "throughput") {
        line("throughput (submit until final)", await closedLoop(args.operations, rename), workers);
      } else if (scenario === "queued-path") {
        const call = () => queue.add("call", { url: endpoint.url });
        line("queued path (HTTP POST job)", await closedLoop(args.operations, call), workers);
      } else if (scenario === "latency") {
        const started = peers.now();
        const { latencies, errors } = await peers.clients(args.sequential, 1, async (i) =>
          (await rename(i)).waitUntilFinished(events, 30_000));
        line("latency (add + waitUntilFinished)",
          { count: latencies.length, elapsed: (peers.now() - started) / 1000, latencies, errors }, workers);
      } else if (scenario === "read") {
        const before = await completed();
        const ids = [];
        for (let i = 0; i < 1000; i += 1) ids.push((await rename(i)).id);
        await peers.until(async () => (await completed()) >= before + ids.length);
        const read = await peers.during(args.readFor, args.concurrency, async () => {
          const job = await Job.fromId(queue, ids[Math.floor(Math.random() * ids.length)]);
          if (!job || !(await job.isCompleted()) || job.returnvalue == null) throw new Error("not read");
        });
        line("read (Job.fromId + state)", read, workers);
      }
    }
    if (args.scenario.includes("in-flight")) {
      await stopWorker();
      startWorker(args.inFlight);
      const wait = () => queue.add("wait", { ms: 1000 });
      line(`in flight (${args.inFlight} × 1s sleep)`, await closedLoop(args.inFlight, wait), args.inFlight);
    }
  } finally {
    if (workerProcess) await peers.stop(workerProcess);
    await events.close();
    await queue.close();
    await endpoint.close();
    rss.close();
    await peers.stop(redis);
    rmSync(dir, { recursive: true, force: true });
  }
}
