// What the token cache costs in memory, measured, so the chart can size V8's heap and
// refuse a TOKEN_CACHE_SIZE that cannot fit it (helm/matrix-turn-credentials, README
// "Memory"). On demand, never in the test suite. Two parts:
//
//  1. In this process: the real cache (src/auth/cache.ts) in front of the real whoami
//     verifier and upstream, asking the bench's stand-in homeserver, filled as the service
//     fills it: keys are token hashes, values the identities whoami answered, or the
//     refusals (401 M_UNKNOWN_TOKEN) a flood of wrong tokens leaves. Heap and array-buffer
//     bytes after full collections, per entry, for several N.
//  2. The built service (dist/src/main.js), with a preload that runs full collections and
//     reports the heap on SIGUSR2: at rest, after distinct users, after as many wrong
//     tokens (right away, and once the upstream's per-call timers have run out), for each
//     cache size and limiter, optionally under a --max-old-space-size cap. The smallest
//     cache size gives the heap of everything that is not the token cache.
//
//   npx tsc -p tsconfig.json && node --expose-gc dist/bench/cache-memory.js
//   options: --entries=10000,100000,200000 (part 1) --service=no (part 1 only)
//            --service-sizes=1000,100000 --users=200000 --modes=in-process,redis --cap=<MiB>

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort, waitForPort } from './ports.js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { tokenCache } from '../src/auth/cache.js';
import { tokenHash } from '../src/auth/token-hash.js';
import type { TokenCache } from '../src/auth/types.js';
import { createUpstream } from '../src/auth/upstream.js';
import { whoamiVerifier } from '../src/auth/whoami.js';
import { createMetrics } from '../src/metrics.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const MiB = 1024 * 1024;
/** The service's default UPSTREAM_TIMEOUT_MS: each call's AbortSignal.timeout timer lives this long. */
const UPSTREAM_TIMEOUT_MS = 5000;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

function option(name: string, fallback: string): string {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Heap and array-buffer bytes still reachable, after collections that leave nothing else. */
function liveBytes(): { heap: number; arrayBuffers: number } {
  for (let i = 0; i < 4; i += 1) gc!();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

// ---- processes --------------------------------------------------------------------------

type Reading = { heap: number; arrayBuffers: number; rss: number; peakRss: number; requestsPerSecond?: number };

interface Child {
  child: ChildProcess;
  url: string;
  /** Full collections in the child, then its heap (needs the probe preload). */
  probe(): Promise<Reading>;
  stop(): Promise<void>;
}

// On SIGUSR2 the service's process collects fully and prints its heap on stderr.
const PROBE = `data:text/javascript,${encodeURIComponent(
  "process.on('SIGUSR2', () => { for (let i = 0; i < 4; i++) globalThis.gc(); " +
    'const u = process.memoryUsage(); ' +
    "process.stderr.write('heap-probe ' + JSON.stringify({ heap: u.heapUsed, arrayBuffers: u.arrayBuffers, rss: u.rss }) + '\\n'); });",
)}`;

/** The highest resident set the process has had (VmHWM), in bytes. */
function peakRss(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

async function start(args: string[], env: Record<string, string>, port: number): Promise<Child> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const waiting: ((line: string) => void)[] = [];
  let buffered = '';
  child.stderr.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.startsWith('heap-probe ')) waiting.shift()?.(line.slice('heap-probe '.length));
      else process.stderr.write(`${line}\n`);
    }
  });
  await waitForPort(port);
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    probe: () =>
      new Promise((resolve) => {
        waiting.push((line) => resolve({ ...(JSON.parse(line) as Omit<Reading, 'peakRss'>), peakRss: peakRss(child.pid!) }));
        child.kill('SIGUSR2');
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function startHomeserver(): Promise<Child> {
  const port = await freePort();
  return start([join(here, 'homeserver.js')], { PORT: String(port) }, port);
}

// The stand-in homeserver knows the tokens bench-<n> (as @user-<n>:bench.example.org) and
// refuses every other one with 401 M_UNKNOWN_TOKEN.
const tokenOf = (kind: 'identity' | 'refusal', n: number) => (kind === 'identity' ? `bench-${n}` : `wrong-${n}`);

// ---- part 1: the cache alone -----------------------------------------------------------------

async function fill(
  homeserverUrl: string,
  kind: 'identity' | 'refusal',
  entries: number,
): Promise<{ heapPerEntry: number; buffersPerEntry: number; heapMiB: number }> {
  const metrics = createMetrics(new Registry());
  const upstream = createUpstream({ name: 'homeserver', timeoutMs: UPSTREAM_TIMEOUT_MS, metrics, logger: pino({ level: 'silent' }) });
  // One call first, so the connection pool and the code on the path exist before the baseline.
  await whoamiVerifier({ homeserverUrl, upstream })
    .verify(tokenOf(kind, entries), {})
    .catch(() => undefined);
  await pause(UPSTREAM_TIMEOUT_MS + 500);
  const before = liveBytes();
  // Made after the baseline: lru-cache allocates its arrays for `max` entries up front, and
  // they are part of what each entry costs.
  const cache: TokenCache = tokenCache(whoamiVerifier({ homeserverUrl, upstream }), {
    ttlSeconds: 3600,
    negativeTtlSeconds: 3600,
    size: entries,
    clock: { nowMs: () => Date.now() },
    metrics,
  });
  // 32 at a time, within the upstream's cap on calls in flight.
  let next = 0;
  const worker = async () => {
    for (let n = next++; n < entries; n = next++) {
      const token = tokenOf(kind, n);
      // As the route does: the hash computed once and handed on.
      await cache.verify(token, tokenHash(token), {}).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  // Each call's timeout timer (AbortSignal.timeout) is held until it runs out: not the cache's.
  await pause(UPSTREAM_TIMEOUT_MS + 500);
  const after = liveBytes();
  // Also keeps the cache reachable through the reading above.
  if (kind === 'identity' && cache.peek(tokenHash(tokenOf(kind, 0))) === undefined) throw new Error('the cache lost an entry');
  await upstream.close();
  return {
    heapPerEntry: (after.heap - before.heap) / entries,
    buffersPerEntry: (after.arrayBuffers - before.arrayBuffers) / entries,
    heapMiB: (after.heap - before.heap) / MiB,
  };
}

// ---- part 2: the built service ----------------------------------------------------------------

/** One request for each of `count` distinct tokens of the kind; the requests a second. */
async function churn(url: string, count: number, kind: 'identity' | 'refusal'): Promise<number> {
  let next = 0;
  const result = await autocannon({
    url: `${url}/_matrix/client/v3/voip/turnServer`,
    connections: 32,
    amount: count,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          req.headers = { ...req.headers, authorization: `Bearer ${tokenOf(kind, next++)}` };
          return req;
        },
      },
    ],
  });
  const expected = kind === 'identity' ? 200 : 401;
  const answered = result.statusCodeStats[String(expected)]?.count ?? 0;
  if (answered !== count || result.errors + result.timeouts > 0) {
    throw new Error(
      `${kind}: ${answered} of ${count} answered ${expected} (${JSON.stringify(result.statusCodeStats)}, ${result.errors} errors)`,
    );
  }
  return Math.round(result.requests.total / result.duration);
}

interface Run {
  redisUrl?: string;
  cacheEntries: number;
  /** --max-old-space-size for the service, 0 for V8's own choice. */
  capMiB: number;
  users: number;
}

async function serviceRun(homeserverUrl: string, run: Run): Promise<Record<string, Reading>> {
  const port = await freePort();
  const svc = await start(
    [
      '--expose-gc',
      ...(run.capMiB > 0 ? [`--max-old-space-size=${run.capMiB}`] : []),
      '--import',
      PROBE,
      join(root, 'dist', 'src', 'main.js'),
    ],
    {
      PORT: String(port),
      METRICS_PORT: String(await freePort()),
      HOST: '127.0.0.1',
      HOMESERVER_URL: homeserverUrl,
      TURN_URIS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349?transport=tcp',
      TURN_SHARED_SECRET: 'bench-secret',
      TOKEN_CACHE_SIZE: String(run.cacheEntries),
      // Long enough that no entry expires during the run: the cache stays full.
      TOKEN_CACHE_TTL: '3600',
      TOKEN_CACHE_NEGATIVE_TTL: '3600',
      RATE_LIMIT_PER_SECOND: '1000000',
      RATE_LIMIT_BURST: '1000000',
      UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND: '1000000',
      UNKNOWN_TOKEN_RATE_LIMIT_BURST: '1000000',
      LOG_LEVEL: 'error',
      ...(run.redisUrl !== undefined ? { REDIS_URL: run.redisUrl } : {}),
    },
    port,
  );
  const readings: Record<string, Reading> = {};
  try {
    readings['at rest'] = await svc.probe();
    let rate = await churn(svc.url, run.users, 'identity');
    readings[`after ${run.users} users`] = { ...(await svc.probe()), requestsPerSecond: rate };
    rate = await churn(svc.url, run.users, 'refusal');
    readings[`after ${run.users} wrong tokens`] = { ...(await svc.probe()), requestsPerSecond: rate };
    await pause(UPSTREAM_TIMEOUT_MS + 500);
    readings['and their timers run out'] = await svc.probe();
  } finally {
    await svc.stop();
  }
  return readings;
}

async function withRedis<T>(body: (redisUrl: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  try {
    await waitForPort(port);
    return await body(`redis://127.0.0.1:${port}`);
  } finally {
    redis.kill('SIGTERM');
  }
}

const mib = (bytes: number) => (bytes / MiB).toFixed(1);

async function main(): Promise<void> {
  const sizes = option('entries', '10000,100000,200000').split(',').map(Number);
  const users = Number(option('users', '200000'));
  const capMiB = Number(option('cap', '0'));
  const cacheSizes = option('service-sizes', '1000,100000').split(',').map(Number);
  const modes = option('modes', 'in-process,redis').split(',');
  console.log(`token cache memory — node ${process.version}\n`);
  const homeserver = await startHomeserver();
  try {
    console.log('the cache alone (real whoami verifier and upstream), after full collections');
    console.log('kind       entries   heap MiB   heap B/entry   array-buffer B/entry');
    for (const kind of ['identity', 'refusal'] as const) {
      for (const entries of sizes) {
        const r = await fill(homeserver.url, kind, entries);
        const cells = [
          kind.padEnd(9),
          String(entries).padStart(7),
          r.heapMiB.toFixed(1).padStart(8),
          r.heapPerEntry.toFixed(0).padStart(12),
          r.buffersPerEntry.toFixed(0).padStart(20),
        ];
        console.log(cells.join('   '));
      }
    }
    if (option('service', 'yes') === 'no') return;
    const oldSpace = capMiB > 0 ? `capped at ${capMiB} MiB` : "V8's own size";
    console.log(`\nthe built service, after full collections (old space ${oldSpace}); ${users} distinct users, then as many wrong tokens`);
    await withRedis(async (redisUrl) => {
      const byMode: Record<string, Record<number, Record<string, Reading>>> = {};
      for (const mode of modes) {
        byMode[mode] = {};
        for (const cacheEntries of cacheSizes) {
          const readings = await serviceRun(homeserver.url, {
            redisUrl: mode === 'redis' ? redisUrl : undefined,
            cacheEntries,
            capMiB,
            users,
          });
          byMode[mode][cacheEntries] = readings;
          for (const [name, r] of Object.entries(readings)) {
            const label = `${mode}, TOKEN_CACHE_SIZE ${cacheEntries}, ${name}`;
            const rate = r.requestsPerSecond === undefined ? '' : `  ${r.requestsPerSecond} req/s`;
            const figures = [
              `heap ${mib(r.heap).padStart(6)} MiB`,
              `buffers ${mib(r.arrayBuffers).padStart(4)} MiB`,
              `RSS ${mib(r.rss).padStart(6)} MiB`,
              `peak ${mib(r.peakRss).padStart(6)} MiB`,
            ];
            console.log(`${label.padEnd(58)} ${figures.join('  ')}${rate}`);
          }
        }
      }
      // Per entry: the difference a bigger cache makes, everything else alike.
      const [small, large] = [cacheSizes[0]!, cacheSizes.at(-1)!];
      if (small === large) return;
      for (const mode of modes) {
        const a = byMode[mode]![small]!;
        const b = byMode[mode]![large]!;
        const per = (reading: string) => ((b[reading]!.heap - a[reading]!.heap) / (large - small)).toFixed(0);
        const [perIdentity, perRefusal] = [per(`after ${users} users`), per('and their timers run out')];
        console.log(`${mode}: per identity entry ${perIdentity} B, per refusal entry ${perRefusal} B (heap, ${small} vs ${large} entries)`);
      }
    });
  } finally {
    await homeserver.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
