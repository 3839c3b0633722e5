// Micro-benchmark of each fast path in src/fast-paths/ against the plain code it replaces
// (`npx tsc -p tsconfig.json && node dist/bench/fast-paths.js [--rounds=8] [--ms=400]`).
// Each pair runs in alternating rounds (plain, fast, plain, fast, …) so a noisy moment on a
// shared machine hurts both alike; every round's figure is printed, then the median of each
// side and the difference, which is what a request saves, also as a share of the ~48 µs a
// hot-path request costs (README, Performance). A micro-benchmark's heap is small and its
// call sites see one shape of object: it understates what allocation and collection cost
// the service (the HMAC and the access line save two to five times more there; see the
// modules' comments).

import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Counter, Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../src/fast-paths/latency-histogram.js';
import { accessLine } from '../src/fast-paths/pino-access-line.js';
import { turnPasswordSigner } from '../src/fast-paths/turn-password.js';
import { systemClock } from '../src/clock.js';
import { createLogger } from '../src/logger.js';
import { memoryLimiter } from '../src/ratelimit/memory.js';
import { LATENCY_BUCKETS_SECONDS } from '../src/metrics.js';
import { TalliedCounter } from '../src/tallied-counter.js';

const REQUEST_BUDGET_NS = 48_000;

const get = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const ROUNDS = Number(get('rounds') ?? 8);
const ROUND_MS = Number(get('ms') ?? 400);

/** What a measured function returns goes here, so the compiler cannot drop the work. */
let sink = 0;
const keep = (value: unknown) => {
  sink = (sink + (typeof value === 'string' ? value.length : 1)) | 0;
};

/** ns per call of `run(i)` over about ROUND_MS of calls. */
function timeRound(run: (i: number) => void): number {
  let calls = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ROUND_MS) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let j = 0; j < 1000; j += 1) run(calls + j);
    calls += 1000;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / calls;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function compare(name: string, plain: (i: number) => void, fast: (i: number) => void): void {
  // Both warmed up first, so neither round pays for compilation.
  for (let i = 0; i < 200_000; i += 1) {
    plain(i);
    fast(i);
  }
  const plainNs: number[] = [];
  const fastNs: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    plainNs.push(timeRound(plain));
    fastNs.push(timeRound(fast));
  }
  const saved = median(plainNs) - median(fastNs);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
  console.log(`${name}`);
  console.log(`  plain ns/call  ${fmt(plainNs)}   median ${median(plainNs).toFixed(0)}`);
  console.log(`  fast  ns/call  ${fmt(fastNs)}   median ${median(fastNs).toFixed(0)}`);
  console.log(`  saved ${saved.toFixed(0)} ns a request, ${((100 * saved) / REQUEST_BUDGET_NS).toFixed(2)} % of 48 µs\n`);
}

const USERS = 5000;
const userIds = Array.from({ length: USERS }, (_, i) => `@bench-user-${i}:example.org`);
const usernames = userIds.map((id) => `1700086400:${id}`);

// ---- HMAC ---------------------------------------------------------------------------
{
  const secret = 'bench-secret';
  const sign = turnPasswordSigner(secret);
  compare(
    'TURN password: createHmac per credential vs turnPasswordSigner',
    (i) =>
      keep(
        createHmac('sha1', secret)
          .update(usernames[i % USERS]!)
          .digest('base64'),
      ),
    (i) => keep(sign(usernames[i % USERS]!)),
  );
}

// ---- access line --------------------------------------------------------------------
{
  const lines = createLogger('info', { write: (line: string) => keep(line) }).child({}, { redact: [] });
  const bound = lines.child({ method: 'GET', route: '/_matrix/client/v3/voip/turnServer', status: 200 });
  const write = accessLine(bound, 'info');
  const hashes = userIds.map((_, i) => i.toString(16).padStart(16, '0'));
  const ids = userIds.map((_, i) => `5c1c3ce0455a-${i}`);
  compare(
    'access line: logger.info({ durationMs, requestId, clientAddress, userHash }) vs accessLine',
    (i) =>
      bound.info({ durationMs: 1.234, requestId: ids[i % USERS]!, clientAddress: '203.0.113.9', userHash: hashes[i % USERS]! }, 'request'),
    (i) => write(1.234, ids[i % USERS]!, '203.0.113.9', 'userHash', hashes[i % USERS]),
  );
}

// ---- latency histogram --------------------------------------------------------------
{
  const options = { name: 'bench_seconds', help: 'bench', labelNames: ['route', 'method', 'status'], buckets: LATENCY_BUCKETS_SECONDS };
  const reference = new Histogram({ ...options, registers: [new Registry()] });
  const ours = new LatencyHistogram({ ...options, registers: [new Registry()] });
  const theirs = reference.labels('/_matrix/client/v3/voip/turnServer', 'GET', '200');
  const observer = ours.labels('/_matrix/client/v3/voip/turnServer', 'GET', '200');
  const seconds = Array.from({ length: 64 }, (_, i) => 0.0005 + i * 0.00005);
  compare(
    "latency observation: prom-client Histogram's bound child vs LatencyHistogram",
    (i) => theirs.observe(seconds[i & 63]!),
    (i) => observer.observe(seconds[i & 63]!),
  );
}

// ---- the request path's counters (not a fast path: tallied-counter.ts, public API) -----
{
  // What a hot request counts: a token cache hit (a labelled series) and a credential issued.
  const registers = [new Registry()];
  const hit = new Counter({ name: 'plain_hits_total', help: 'h', labelNames: ['result'], registers }).labels('hit');
  const issued = new Counter({ name: 'plain_issued_total', help: 'i', registers });
  const hitTally = new TalliedCounter({ name: 'tallied_hits_total', help: 'h', labelNames: ['result'], registers }).tally('hit');
  const issuedTally = new TalliedCounter({ name: 'tallied_issued_total', help: 'i', registers }).tally();
  compare(
    "a hot request's two counts: prom-client's bound child and counter vs TalliedCounter's tallies",
    () => {
      hit.inc();
      issued.inc();
    },
    () => {
      hitTally.inc();
      issuedTally.inc();
    },
  );
}

// ---- response under way ------------------------------------------------------------
{
  // The public way to know a connection's response: a second 'request' listener recording
  // each response by its socket. What it adds to each request's 'request' event, against
  // the server's one listener; responseUnderWay itself runs only on a malformed request.
  const plainServer = new EventEmitter();
  const recordingServer = new EventEmitter();
  const handler = (_req: object, res: { socket: object }) => keep(res);
  const responses = new WeakMap<object, object>();
  plainServer.on('request', handler);
  recordingServer.on('request', handler);
  recordingServer.on('request', (_req: object, res: { socket: object }) => responses.set(res.socket, res));
  const exchanges = Array.from({ length: 64 }, () => ({ req: {}, res: { socket: {} } }));
  compare(
    "connection's response: a second 'request' listener recording it vs responseUnderWay",
    (i) => recordingServer.emit('request', exchanges[i & 63]!.req, exchanges[i & 63]!.res),
    (i) => plainServer.emit('request', exchanges[i & 63]!.req, exchanges[i & 63]!.res),
  );
}

// ---- the in-memory limiter's decision (no fast path: what issue 17 asks it to cost) -----
{
  const limiter = memoryLimiter({ perSecond: 1_000_000, burst: 1_000_000, clock: systemClock });
  const run = (i: number) => keep(limiter.decide(userIds[i % USERS]!));
  for (let i = 0; i < 200_000; i += 1) run(i);
  const ns = Array.from({ length: ROUNDS }, () => timeRound(run));
  console.log(`in-memory limiter decision (memoryLimiter.decide, ${USERS} users)`);
  console.log(`  ns/call  ${ns.map((x) => x.toFixed(0)).join(' ')}   median ${median(ns).toFixed(0)}\n`);
}

if (sink === 42) console.log(''); // read the sink once
