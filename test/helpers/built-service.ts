// The built service as production runs it: `node dist/src/main.js` in its own process,
// configured by environment, on free ports. Its stdout and stderr are kept whole, for
// tests of what the process prints and how it ends (signals, exit codes). The build is
// `npm test`'s tsc step; a missing or stale build fails loudly instead of testing old code.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { waitForPort } from './redis.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const BUILT_MAIN = join(root, 'dist', 'src', 'main.js');

export interface BuiltService {
  readonly port: number;
  readonly metricsPort: number;
  readonly url: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal that ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops it if still running (SIGKILL after 10 s of SIGTERM). */
  stop(): Promise<void>;
}

/** Throws unless dist/ holds a build at least as new as every source file. */
export function assertFreshBuild(): void {
  if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run "npx tsc -p tsconfig.json" (npm test does) first`);
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const built = join(root, 'dist', path.replace(/\.ts$/, '.js'));
        if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(root, path)).mtimeMs) stale.push(path);
      }
    }
  };
  walk('src');
  if (stale.length > 0) throw new Error(`dist/ is older than ${stale.join(', ')}: run "npx tsc -p tsconfig.json" (npm test does) first`);
}

/** Starts the built service with `env` (plus free PORT/METRICS_PORT and HOST) and waits until it listens. */
export async function startBuiltService(env: Record<string, string>): Promise<BuiltService> {
  assertFreshBuild();
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [BUILT_MAIN], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: String(metricsPort), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const failedEarly = exited.then(({ code }) => {
    throw new Error(`the service exited (${code}) before listening:\n${err}${out}`);
  });
  failedEarly.catch(() => {});
  await Promise.race([waitForPort(port, 30_000), failedEarly]);
  return {
    port,
    metricsPort,
    url: `http://127.0.0.1:${port}`,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };
}

/** Runs the built service expecting it to refuse to start; resolves with its exit code and output. */
export function runBuiltServiceToExit(
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assertFreshBuild();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BUILT_MAIN, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}
