// What a run loads, started and loaded: the parts the selected targets need beside them
// (the stand-in homeserver and introspection endpoint, Redis, the run's JWTs), each target
// in its own process (a ceiling from bench/ceilings/, or the built service with the bench's
// environment, then the target's, then what the run adds), and one measured load of one.

import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figures } from './figures.js';
import { untilSettled } from './idle.js';
import { load, type LoadFigures, type UserHeaders } from './load.js';
import type { Options } from './options.js';
import { freePort } from './ports.js';
import type { Processes } from './processes.js';
import type { procCpu } from './proc-cpu.js';
import { INTROSPECTION_CLIENT, type Need, type Stack, type Target } from './targets.js';
import { jwtFixture } from './tokens.js';
import { startCloudflareStandIn } from '../test/helpers/provider-stand-ins.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
export const TURN_SECRET = 'bench-secret';

export interface Bench {
  opts: Options;
  processes: Processes;
  cpu: ReturnType<typeof procCpu>;
}

export interface Running {
  target: Target;
  /** The name in tables: the target's, with the A/B side when there is one. */
  name: string;
  url: string;
  /** The service's /metrics; undefined for a ceiling. */
  metricsUrl?: string;
  child: ChildProcess;
  headers: UserHeaders;
}

export async function startStack(needs: ReadonlySet<Need>, bench: Bench): Promise<Stack & { stop(): Promise<void> }> {
  const { processes } = bench;
  const stack: Stack = {};
  const stops: (() => Promise<void>)[] = [];
  const node = async (name: string, file: string, env: Record<string, string>) => {
    const port = await freePort();
    const child = await processes.start(name, process.execPath, [join(here, file)], { ...env, PORT: String(port) }, port);
    stops.push(() => processes.stop(child));
    return `http://127.0.0.1:${port}`;
  };
  if (needs.has('homeserver')) stack.homeserverUrl = await node('homeserver', 'homeserver.js', {});
  if (needs.has('introspection')) {
    const client = { CLIENT_ID: INTROSPECTION_CLIENT.id, CLIENT_SECRET: INTROSPECTION_CLIENT.secret };
    stack.introspectionUrl = `${await node('introspection', 'introspection.js', client)}/oauth2/introspect`;
  }
  if (needs.has('redis')) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mtc-bench-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    const redis = await processes.start('redis', 'redis-server', args, {}, port);
    stops.push(async () => {
      await processes.stop(redis);
      rmSync(dir, { recursive: true, force: true });
    });
    stack.redisUrl = `redis://127.0.0.1:${port}`;
  }
  if (needs.has('jwt')) stack.jwt = await jwtFixture(bench.opts.users);
  if (needs.has('provider')) {
    // In this process: it answers only while the users are primed, one call each.
    const standIn = await startCloudflareStandIn({ keyId: 'bench-key', apiToken: 'bench-token' });
    const dir = mkdtempSync(join(tmpdir(), 'mtc-bench-provider-'));
    stack.providerConfigFile = join(dir, 'config.yaml');
    const entry = { name: 'cf', provider: 'cloudflare', api_url: standIn.url, key_id: 'bench-key', api_token: 'bench-token', ttl: 86_400 };
    writeFileSync(stack.providerConfigFile, `turn_servers: [${JSON.stringify(entry)}]\nprovider_cache_size: ${bench.opts.users * 2}\n`);
    stops.push(async () => {
      process.stdout.write(`Cloudflare stand-in: ${standIn.issued} credentials issued for ${bench.opts.users} users\n`);
      await standIn.close();
      rmSync(dir, { recursive: true, force: true });
    });
  }
  return { ...stack, stop: async () => void (await Promise.all(stops.map((stop) => stop()))) };
}

export function serviceBaseEnv(): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    TURN_URIS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349?transport=tcp',
    TURN_SHARED_SECRET: TURN_SECRET,
    // Off unless asked for: the example URIs do not resolve, and checks of them would be noise.
    TURN_HEALTH_CHECK_INTERVAL: '0',
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
    UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND: '1000000',
    UNKNOWN_TOKEN_RATE_LIMIT_BURST: '1000000',
    LOG_LEVEL: 'info',
  };
}

/** With --pin, the target on the last CPU (taskset execs it: the pid, whose CPU is read, is the target's). */
function pinned(bench: Bench, command: string, args: readonly string[]): [string, string[]] {
  if (!bench.opts.pin) return [command, [...args]];
  return ['taskset', ['-c', String(cpus().length - 1), command, ...args]];
}

/** With --pin, this process (the load generator) and what it starts besides targets on every CPU but the last. */
export function pinLoadGenerator(opts: Options): void {
  if (!opts.pin) return;
  const others = cpus().length > 1 ? `0-${cpus().length - 2}` : '0';
  execFileSync('taskset', ['-a', '-p', '-c', others, String(process.pid)], { stdio: 'ignore' });
}

export async function startTarget(
  target: Target,
  stack: Stack,
  bench: Bench,
  serviceEnv: Record<string, string>,
  name = target.name,
  /** The checkout whose built service runs: this one unless an A/B of builds says another. */
  serviceRoot = root,
): Promise<Running> {
  const port = await freePort();
  const common = { target, name, url: `http://127.0.0.1:${port}`, headers: target.headers(stack, bench.opts.users) };
  if (target.ceilingFile !== undefined) {
    const env = { ...target.env(stack), PORT: String(port), USERS: String(bench.opts.users), TURN_SHARED_SECRET: TURN_SECRET };
    const [command, args] = pinned(bench, process.execPath, [...bench.opts.serviceNodeArgs, join(here, 'ceilings', target.ceilingFile)]);
    const child = await bench.processes.start(target.id, command, args, env, port);
    return { ...common, child };
  }
  const metricsPort = await freePort();
  const env = { ...serviceBaseEnv(), ...target.env(stack), ...serviceEnv, PORT: String(port), METRICS_PORT: String(metricsPort) };
  const [command, args] = pinned(bench, process.execPath, [...bench.opts.serviceNodeArgs, join(serviceRoot, 'dist', 'src', 'main.js')]);
  const child = await bench.processes.start(target.id, command, args, env, port);
  return { ...common, child, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
}

export async function measure(running: Running, bench: Bench, durationSeconds: number): Promise<Figures> {
  const { opts, cpu } = bench;
  const figures: LoadFigures = await load(
    { url: running.url, pid: running.child.pid!, connections: opts.connections, durationSeconds, headers: running.headers },
    cpu,
  );
  if (running.metricsUrl !== undefined) await untilIdle(running.metricsUrl);
  return { id: running.target.id, name: running.name, kind: running.target.kind, ...figures };
}

/** A service is left to settle after a load before anything stops it (bench/idle.ts); what it was doing is said. */
async function untilIdle(metricsUrl: string): Promise<void> {
  const { settled, first } = await untilSettled({
    read: async () => (await fetch(metricsUrl)).text(),
    pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  });
  if (first.limiterFallback) process.stderr.write(`${metricsUrl}: the rate limiter was in its Redis fallback at the end of the load\n`);
  if (!settled) process.stderr.write(`${metricsUrl}: upstream calls or the limiter's fallback still on 5 s after the load\n`);
}

/**
 * measure(), with the other targets' processes stopped meanwhile (SIGSTOP, then SIGCONT):
 * an idle service still wakes for its timers (prom-client's event-loop delay monitor every
 * 10 ms, the log flush, health checks), and on two cores every wake-up of a dozen idle
 * processes is taken from the one measured or its load generator.
 */
export async function measureAlone(
  running: Running,
  all: readonly Running[],
  bench: Bench,
  durationSeconds: number,
  /** Left running too: the target loaded next to this one. */
  kept: readonly Running[] = [],
): Promise<Figures> {
  const others = all.filter((r) => r !== running && !kept.includes(r) && r.child.exitCode === null);
  for (const r of others) r.child.kill('SIGSTOP');
  try {
    return await measure(running, bench, durationSeconds);
  } finally {
    for (const r of others) r.child.kill('SIGCONT');
  }
}

/** Every user's request once, so the measured loads are all cache hits. */
export async function prime(running: Running, bench: Bench): Promise<void> {
  const figures = await load(
    { url: running.url, connections: bench.opts.connections, amount: running.headers.count, headers: running.headers },
    bench.cpu,
  );
  if (figures.non2xx > 0 || figures.errors > 0) throw new Error(`${running.name}: priming failed (${figures.non2xx} non-2xx)`);
}
