// The benchmark (`npm run bench`, on demand, never in the test suite). In one run it
// starts two ceilings — bare node:http and Koa + @koa/router answering a fixed JSON body —
// and the real service (dist/src/main.js, whoami mode against a stand-in homeserver, all
// tokens cached, limits high enough that nothing is refused), each in its own process, and
// loads each with autocannon from this process over thousands of distinct users' tokens.
// Ratios against the ceilings are what count: the machine is shared and noisy.
//
//   npm run bench                      hot path: ceilings, service+Redis, service+in-process, cold path
//   npm run bench -- --mode=scale      1,000,000 distinct tokens cycling: RSS and throughput as the cache churns
//   options: --duration=10 --connections=64 --users=5000 --rounds=2

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { freePort, waitForPort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const TURN_PATH = '/_matrix/client/v3/voip/turnServer';

interface Options {
  mode: 'hot' | 'scale';
  durationSeconds: number;
  connections: number;
  users: number;
  rounds: number;
}

function parseOptions(argv: string[]): Options {
  const get = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const mode = get('mode') ?? 'hot';
  if (mode !== 'hot' && mode !== 'scale') throw new Error(`--mode must be hot or scale, not ${mode}`);
  return {
    mode,
    durationSeconds: Number(get('duration') ?? 10),
    connections: Number(get('connections') ?? 64),
    users: Number(get('users') ?? 5000),
    rounds: Number(get('rounds') ?? 2),
  };
}

// ---- processes ----------------------------------------------------------------------

const children = new Set<ChildProcess>();

async function startProcess(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  port: number,
): Promise<ChildProcess> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  children.add(child);
  child.once('exit', (code, signal) => {
    children.delete(child);
    if (code !== 0 && signal === null && !stopping) process.stderr.write(`${name} exited ${code}: ${stderr}\n`);
  });
  await waitForPort(port);
  return child;
}

let stopping = false;
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

// ---- load ---------------------------------------------------------------------------

interface Figures {
  name: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  total: number;
}

/** Each request carries the next token of `tokens` distinct users, cycling. */
function tokenCycler(tokens: number, start = 0) {
  let next = start;
  return {
    setupRequest(req: { headers?: Record<string, string> }) {
      const n = next;
      next = (next + 1) % tokens;
      req.headers = { ...req.headers, authorization: `Bearer bench-${n}` };
      return req;
    },
  };
}

async function load(
  name: string,
  url: string,
  options: { connections: number; durationSeconds?: number; amount?: number; tokens: number; start?: number },
): Promise<Figures> {
  const cycler = tokenCycler(options.tokens, options.start);
  const result: Result = await autocannon({
    url: `${url}${TURN_PATH}`,
    connections: options.connections,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSeconds ?? 10 }),
    requests: [{ method: 'GET', setupRequest: (req) => cycler.setupRequest(req) }],
  });
  return {
    name,
    rps: Math.round(result.requests.total / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
  };
}

function table(rows: Figures[]): string {
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'requests'];
  const lines = rows.map((r) => [
    r.name,
    String(r.rps),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    String(r.non2xx),
    String(r.errors),
    String(r.total),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

// ---- scenarios ------------------------------------------------------------------------

interface Stack {
  homeserverUrl: string;
  redisUrl: string;
}

async function startStack(): Promise<Stack & { stop(): Promise<void> }> {
  const hsPort = await freePort();
  const hs = await startProcess('homeserver', process.execPath, [join(here, 'homeserver.js')], { PORT: String(hsPort) }, hsPort);
  const redisPort = await freePort();
  const redisDir = mkdtempSync(join(tmpdir(), 'mtc-bench-redis-'));
  const redis = await startProcess(
    'redis',
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
    {},
    redisPort,
  );
  return {
    homeserverUrl: `http://127.0.0.1:${hsPort}`,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    async stop() {
      await Promise.all([stopProcess(hs), stopProcess(redis)]);
      rmSync(redisDir, { recursive: true, force: true });
    },
  };
}

async function startService(stack: Stack, env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = await startProcess(
    'service',
    process.execPath,
    [join(root, 'dist', 'src', 'main.js')],
    {
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      HOST: '127.0.0.1',
      HOMESERVER_URL: stack.homeserverUrl,
      TURN_URIS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349?transport=tcp',
      TURN_SHARED_SECRET: 'bench-secret',
      RATE_LIMIT_PER_SECOND: '1000000',
      RATE_LIMIT_BURST: '1000000',
      UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND: '1000000',
      UNKNOWN_TOKEN_RATE_LIMIT_BURST: '1000000',
      LOG_LEVEL: 'info',
      ...env,
    },
    port,
  );
  return { url: `http://127.0.0.1:${port}`, child };
}

async function startCeiling(file: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = await startProcess(file, process.execPath, [join(here, 'ceilings', file)], { PORT: String(port) }, port);
  return { url: `http://127.0.0.1:${port}`, child };
}

/** Best of `rounds` runs, the targets interleaved so a noisy moment hurts them alike. */
async function bestOf(rounds: number, targets: { name: string; url: string }[], opts: Options): Promise<Map<string, Figures>> {
  const best = new Map<string, Figures>();
  for (let round = 0; round < rounds; round += 1) {
    for (const target of targets) {
      await load(`${target.name} (warm-up)`, target.url, { connections: opts.connections, durationSeconds: 2, tokens: opts.users });
      const figures = await load(target.name, target.url, {
        connections: opts.connections,
        durationSeconds: opts.durationSeconds,
        tokens: opts.users,
      });
      const previous = best.get(target.name);
      if (!previous || figures.rps > previous.rps) best.set(target.name, figures);
    }
  }
  return best;
}

async function hot(opts: Options): Promise<void> {
  const stack = await startStack();
  const bare = await startCeiling('bare.js');
  const koa = await startCeiling('koa.js');
  const withRedis = await startService(stack, { REDIS_URL: stack.redisUrl });
  const inProcess = await startService(stack, {});
  const cold = await startService(stack, { TOKEN_CACHE_TTL: '0' });
  try {
    // Every user's token verified once, so the measured runs are all cache hits.
    for (const service of [withRedis, inProcess]) {
      await load('prime', service.url, { connections: opts.connections, amount: opts.users, tokens: opts.users });
    }
    const targets = [
      { name: 'bare node:http', url: bare.url },
      { name: 'koa + router', url: koa.url },
      { name: 'service (Redis)', url: withRedis.url },
      { name: 'service (in-process)', url: inProcess.url },
      { name: 'service cold (no cache)', url: cold.url },
    ];
    const best = await bestOf(opts.rounds, targets, opts);
    const get = (name: string) => best.get(name)!;
    console.log(table(targets.map((t) => get(t.name))));
    const ratio = (a: string, b: string) => (get(a).rps / get(b).rps).toFixed(3);
    console.log('');
    console.log(`service (Redis) / koa            ${ratio('service (Redis)', 'koa + router')}   (target >= 0.55)`);
    console.log(`service (Redis) / bare           ${ratio('service (Redis)', 'bare node:http')}   (target >= 0.35)`);
    console.log(`service (Redis) / in-process     ${ratio('service (Redis)', 'service (in-process)')}`);
    console.log(`service (in-process) / koa       ${ratio('service (in-process)', 'koa + router')}`);
    console.log(`cold (whoami per request) / hot  ${ratio('service cold (no cache)', 'service (Redis)')}`);
    console.log(
      `p99 service (Redis)              ${get('service (Redis)').p99Ms.toFixed(2)} ms at ${opts.connections} connections (target < 10)`,
    );
  } finally {
    for (const p of [bare, koa, withRedis, inProcess, cold]) await stopProcess(p.child);
    await stack.stop();
  }
}

async function scale(opts: Options): Promise<void> {
  const stack = await startStack();
  const service = await startService(stack, { REDIS_URL: stack.redisUrl });
  const rows: (Figures & { rssMiB: number })[] = [];
  try {
    const total = 1_000_000;
    console.log(`service RSS at start: ${rssMiB(service.child.pid!)} MiB (TOKEN_CACHE_SIZE default 100000)`);
    let served = 0;
    for (const upTo of [10_000, 100_000, 1_000_000]) {
      const amount = upTo - served;
      const figures = await load(`users ${served + 1}..${upTo}`, service.url, {
        connections: opts.connections,
        amount,
        tokens: total,
        start: served,
      });
      served = upTo;
      rows.push({ ...figures, rssMiB: rssMiB(service.child.pid!) });
    }
    // Back over the first users: their entries were evicted long ago, so this is the churn.
    const again = await load('users 1..100000 again', service.url, {
      connections: opts.connections,
      amount: 100_000,
      tokens: total,
      start: 0,
    });
    rows.push({ ...again, rssMiB: rssMiB(service.child.pid!) });
    console.log(table(rows));
    console.log('');
    for (const row of rows) console.log(`RSS after ${row.name.padEnd(24)} ${row.rssMiB} MiB`);
  } finally {
    await stopProcess(service.child);
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`matrix-turn-credentials benchmark — node ${process.version}, ${cpus().length} × ${cpu}`);
  console.log(
    `mode ${opts.mode}, ${opts.connections} connections, ${opts.durationSeconds}s per run, best of ${opts.rounds}, ${opts.users} users\n`,
  );
  if (opts.mode === 'hot') await hot(opts);
  else await scale(opts);
}

const cleanup = () => {
  stopping = true;
  for (const child of children) child.kill('SIGKILL');
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});
main().then(
  () => {
    stopping = true;
    cleanup();
  },
  (error: unknown) => {
    cleanup();
    console.error(error);
    process.exit(1);
  },
);
