// The job `bpops bench` measures, done by graphile-worker on the local PostgreSQL (the jobs
// queue in tables of its own schema, committed as the server's synchronous_commit says). One
// JSON line per scenario, in the shape of `bpops bench --json`, each with its durability (see
// bench/peers.mjs).
//
//   (cd bench/graphile-worker && npm ci) && node bench/graphile-worker/bench.mjs --short \
//       --postgres-url postgres://postgres@127.0.0.1:5432/bench_peers
//
// The database's `graphile_worker` schema is dropped first and made afresh by the worker.
// graphile-worker deletes a job when it succeeds and keeps no result, so "final" is "no
// longer in graphile_worker.jobs" (a failed job stays there, retried later: an error), and
// there is no read scenario. Scenarios:
//   burn-down    N no-op jobs added while no worker runs; then the worker process starts, and
//                the time runs from its start until none is left.
//   throughput   C async clients add N no-op jobs (addJob); counted from the first add until
//                none is left (closed loop, end to end). latency_ms: one add.
//   queued-path  the same with a job that POSTs to a local HTTP endpoint.
//   in-flight    F jobs that each sleep 1 s (a timer; the worker runs F at once), until none
//                is left.
//   latency      one at a time: addJob, then read its row every 1 ms until it is gone.
//
// The worker is a process of its own (`bench.mjs --worker`), woken by LISTEN/NOTIFY;
// server_rss_mb is the peak PSS of the worker process (not PostgreSQL's, as for bpops).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeWorkerUtils, run } from "graphile-worker";
import pg from "pg";
import * as peers from "../peers.mjs";

const SCENARIOS = ["burn-down", "throughput", "queued-path", "in-flight", "latency"];
const SYSTEM = "graphile-worker";
const HERE = fileURLToPath(import.meta.url);

if (process.argv.includes("--worker")) {
  await worker();
} else {
  await main();
}

/** The worker process: BENCH_WORKER_CONCURRENCY jobs at once on BENCH_POSTGRES_URL. */
async function worker() {
  const runner = await run({
    connectionString: process.env.BENCH_POSTGRES_URL,
    concurrency: Number(process.env.BENCH_WORKER_CONCURRENCY),
    maxPoolSize: 16,
    noHandleSignals: true,
    pollInterval: 1000, // new jobs arrive by NOTIFY; the poll only catches up
    taskList: {
      rename: async (payload) => ({ tagMap: { instanceId: payload.instanceId, instance_name: payload.name } }),
      call: async (payload) => peers.callEndpoint(payload.url),
      wait: async (payload) => peers.sleep(payload.ms),
    },
  });
  process.on("SIGTERM", async () => {
    await runner.stop();
    process.exit(0);
  });
  await runner.promise;
}

async function main() {
  const args = peers.parse(SCENARIOS, {
    "postgres-url": { type: "string" },
    workers: { type: "string", default: "8" },
  });
  if (!args["postgres-url"] || !(Number(args.workers) > 0)) {
    console.error("needs --postgres-url; --workers: a positive integer");
    process.exit(2);
  }
  const url = args["postgres-url"];
  const db = new pg.Pool({ connectionString: url, max: args.concurrency + 1 });
  try {
    const mode = (await db.query("show synchronous_commit")).rows[0].synchronous_commit;
    const durability = `fsync per commit (PostgreSQL synchronous_commit = ${mode})`;
    peers.note(`${SYSTEM}: ${durability}; worker concurrency ${args.workers} (in flight: one per job)`);
    await measure(db, url, durability, args);
  } catch (error) {
    peers.note(`${SYSTEM}: not measured: ${String(error.message ?? error).split("\n")[0]}`);
    process.exitCode = 1;
  } finally {
    await db.end();
  }
}

async function measure(db, url, durability, args) {
  await db.query("drop schema if exists graphile_worker cascade");
  const utils = await makeWorkerUtils({ connectionString: url, maxPoolSize: args.concurrency + 1 });
  await utils.migrate();
  const dir = mkdtempSync(join(tmpdir(), "graphile-worker-bench-"));
  const endpoint = await peers.endpoint();
  const rss = new peers.Rss([]);
  let workerProcess = null;
  const startWorker = (concurrency) => {
    workerProcess = peers.start(process.execPath, [HERE, "--worker"], join(dir, "worker.log"), {
      BENCH_POSTGRES_URL: url,
      BENCH_WORKER_CONCURRENCY: String(concurrency),
    });
    rss.pids = [workerProcess.pid];
  };
  const left = async () => Number((await db.query("select count(*) from graphile_worker.jobs")).rows[0].count);
  const failed = async () =>
    Number((await db.query("select count(*) from graphile_worker.jobs where attempts > 0 and last_error is not null")).rows[0].count);
  const line = (what, figures, concurrency) =>
    peers.emit(`${SYSTEM}: ${what}`, figures, rss, { durability, worker_concurrency: concurrency });
  // Adds n jobs from C clients, then counts until none is left unfinished; a job that failed
  // (and waits for its retry) is an error.
  const closedLoop = async (n, add) => {
    const started = peers.now();
    const { latencies, errors } = await peers.clients(n, args.concurrency, add);
    await peers.until(async () => (await left()) <= (await failed()));
    const elapsed = (peers.now() - started) / 1000;
    const all = errors + (await failed());
    await db.query("delete from graphile_worker._private_jobs");
    return { count: n - Math.min(all, n), elapsed, latencies, errors: all };
  };
  const rename = (i) => utils.addJob("rename", peers.renameArgs(i));
  const gone = async (id) => (await db.query("select 1 from graphile_worker.jobs where id = $1", [id])).rowCount === 0;
  try {
    const workers = Number(args.workers);
    if (args.scenario.includes("burn-down")) {
      for (let i = 0; i < args.operations; i += 1) await rename(i);
      const started = peers.now();
      startWorker(workers);
      await peers.until(async () => (await left()) === 0);
      line("burn-down (N queued, then the worker starts)",
        { count: args.operations, elapsed: (peers.now() - started) / 1000 }, workers);
    } else {
      startWorker(workers);
    }
    const oneAtATime = async (i) => {
      const job = await rename(i);
      await peers.until(() => gone(job.id), 30);
    };
    for (let i = 0; i < 20; i += 1) await oneAtATime(i);
    for (const scenario of args.scenario) {
      if (scenario === "throughput") {
        line("throughput (submit until final)", await closedLoop(args.operations, rename), workers);
      } else if (scenario === "queued-path") {
        const call = () => utils.addJob("call", { url: endpoint.url });
        line("queued path (HTTP POST job)", await closedLoop(args.operations, call), workers);
      } else if (scenario === "latency") {
        const started = peers.now();
        const { latencies, errors } = await peers.clients(args.sequential, 1, oneAtATime);
        line("latency (addJob + row gone)",
          { count: latencies.length, elapsed: (peers.now() - started) / 1000, latencies, errors }, workers);
      }
    }
    if (args.scenario.includes("in-flight")) {
      await peers.stop(workerProcess);
      startWorker(args.inFlight);
      const wait = () => utils.addJob("wait", { ms: 1000 });
      line(`in flight (${args.inFlight} × 1s sleep)`, await closedLoop(args.inFlight, wait), args.inFlight);
    }
  } finally {
    if (workerProcess) await peers.stop(workerProcess);
    await utils.release();
    await endpoint.close();
    rss.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
