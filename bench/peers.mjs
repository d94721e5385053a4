// What the Node.js peers' harnesses (bench/bullmq, bench/graphile-worker) share, as
// bench/peers.py does for the Python ones: the flags and --short clamps of `bpops bench`, the
// shape of a measured line, percentiles, memory sampling, the local HTTP endpoint that the
// queued-path scenario's tasks call, and the closed loop of C clients. Node's standard
// library only, so each harness imports it by path.
import { spawn } from "node:child_process";
import { openSync, readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import { connect, createServer } from "node:net";
import { parseArgs } from "node:util";

// What bpops's http executor POSTs a receiver and what a receiver answers (README, "Declared
// operations"); bench/peers.py sends and answers the same.
export const HTTP_BODY = JSON.stringify({ ServiceType: "bench", Operation: "call", Attributes: { n: 1 } });
const HTTP_ANSWER = JSON.stringify({ Arguments: { ok: true } });

export const INSTANCES = 1024; // as bpops bench spreads its operations over 1024 instances

/** The `i`th rename's arguments: a small payload, answered by a small dict. */
export const renameArgs = (i) => ({
  instanceId: `i-bench-${String(i % INSTANCES).padStart(4, "0")}`,
  name: `bench-${i}`,
});

/** The flags every harness shares with `bpops bench` (plus its own), --short applied. */
export function parse(scenarios, extra = {}) {
  const { values } = parseArgs({
    options: {
      scenario: { type: "string", default: scenarios.join(",") },
      operations: { type: "string", default: "20000" },
      "in-flight": { type: "string", default: "10000" },
      concurrency: { type: "string", default: "64" },
      sequential: { type: "string", default: "2000" },
      "read-for": { type: "string", default: "10s" },
      short: { type: "boolean", default: false },
      ...extra,
    },
  });
  const count = (name) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n <= 0) fail(`--${name}: a positive integer, not ${values[name]}`);
    return n;
  };
  const args = {
    ...values,
    scenario: values.scenario.split(",").map((s) => s.trim()).filter(Boolean),
    operations: count("operations"),
    inFlight: count("in-flight"),
    concurrency: count("concurrency"),
    sequential: count("sequential"),
    readFor: seconds(values["read-for"]),
  };
  const unknown = args.scenario.filter((s) => !scenarios.includes(s));
  if (unknown.length) fail(`unknown scenario: ${unknown.join(", ")}`);
  if (args.short) {
    args.operations = Math.min(args.operations, 500);
    args.inFlight = Math.min(args.inFlight, 500);
    args.concurrency = Math.min(args.concurrency, 8);
    args.sequential = Math.min(args.sequential, 50);
    args.readFor = Math.min(args.readFor, 1);
  }
  return args;
}

function seconds(text) {
  const match = /^([0-9.]+)\s*(ms|s|m)?$/.exec(String(text).trim());
  if (!match || !(Number(match[1]) > 0)) fail(`not a duration: ${text}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60 }[match[2] ?? "s"];
}

function fail(message) {
  console.error(message);
  process.exit(2);
}

/** Nearest-rank percentiles in ms of latencies in ms, as bpops bench computes them. */
export function percentiles(samples) {
  if (!samples.length) return { p50: 0, p90: 0, p99: 0, max: 0 };
  const s = Float64Array.from(samples).sort();
  const at = (q) => s[Math.min(Math.max(Math.ceil(q * s.length), 1), s.length) - 1];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

/** Prints one measured line. */
export function emit(scenario, { count, elapsed, latencies = [], errors = 0 }, rss, more = {}) {
  const line = {
    scenario,
    count,
    per_second: count / Math.max(elapsed, 1e-9),
    latency_ms: percentiles(latencies),
    errors,
    server_rss_mb: rss ? rss.peakMb() : null,
    ...more,
  };
  process.stdout.write(JSON.stringify(line) + "\n");
}

/** A note line for the report (and stderr, for whoever watches the run). */
export function note(text) {
  process.stdout.write(JSON.stringify({ note: text }) + "\n");
  console.error(text);
}

export const now = () => performance.now();
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one(i) for i in 0..n from `concurrency` async clients; one(i)'s time is its latency. */
export async function clients(n, concurrency, one) {
  let next = 0;
  const latencies = [];
  let errors = 0;
  const client = async () => {
    for (let i = next++; i < n; i = next++) {
      const asked = now();
      try {
        await one(i);
        latencies.push(now() - asked);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { latencies, errors };
}

/** Runs one() from `concurrency` async clients for `seconds`; counts and times the calls
 * that succeeded. */
export async function during(seconds, concurrency, one) {
  const started = now();
  const deadline = started + seconds * 1000;
  const latencies = [];
  let errors = 0;
  const client = async () => {
    while (now() < deadline) {
      const asked = now();
      try {
        await one();
        latencies.push(now() - asked);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { count: latencies.length, elapsed: (now() - started) / 1000, latencies, errors };
}

/** Polls done() every ms until true; throws after `limit` seconds. */
export async function until(done, limit = 600) {
  const deadline = now() + limit * 1000;
  while (!(await done())) {
    if (now() > deadline) throw new Error(`not done after ${limit} s`);
    await sleep(1);
  }
}

/** The queued-path task's work: one POST of HTTP_BODY; its JSON answer. */
export async function callEndpoint(url) {
  const answer = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: HTTP_BODY,
  });
  if (!answer.ok) throw new Error(`endpoint answered ${answer.status}`);
  return answer.json();
}

/** A local HTTP endpoint on a free loopback port answering every POST with HTTP_ANSWER. */
export async function endpoint() {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(HTTP_ANSWER);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/call`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Samples the summed PSS of some process trees every 0.25 s and keeps the peak. */
export class Rss {
  constructor(pids) {
    this.pids = pids;
    this.peak = 0;
    this.timer = setInterval(() => this.sample(), 250);
  }
  sample() {
    let kb = 0;
    for (const root of this.pids) for (const pid of tree(root)) kb += pssKb(pid);
    this.peak = Math.max(this.peak, kb / 1024);
  }
  peakMb() {
    this.sample();
    return Math.round(this.peak * 10) / 10;
  }
  close() {
    clearInterval(this.timer);
  }
}

function tree(pid) {
  const found = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    found.push(p);
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${tid}/children`, "utf8");
        todo.push(...children.split(/\s+/).filter(Boolean).map(Number));
      }
    } catch {
      // it exited meanwhile
    }
  }
  return found;
}

function pssKb(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+)/m);
    return line ? Number(line[1]) : 0;
  } catch {
    return 0;
  }
}

/** Starts a process in a session of its own, its output to `log`. */
export function start(command, argv, log, env = {}) {
  const out = openSync(log, "a");
  const child = spawn(command, argv, {
    stdio: ["ignore", out, out],
    detached: true,
    env: { ...process.env, ...env },
  });
  child.log = log;
  return child;
}

/** Ends a process started by start(), and whatever it forked. */
export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(-child.pid, "SIGTERM");
  const timer = setTimeout(() => process.kill(-child.pid, "SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once something accepts connections on the loopback `port`. */
export async function listening(port, limit = 30) {
  const accepts = () =>
    new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => resolve(socket.end() && true));
      socket.once("error", () => resolve(false));
    });
  await until(accepts, limit);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

