// Under npm, SIGTERM reaches the service: `npm start` runs `exec node dist/src/main.js`,
// so the shell npm starts is replaced by node, and the SIGTERM that npm forwards to its
// child (as a supervisor sends it to npm) is node's. Without exec, dash would keep node
// as its own child and never pass the signal on: npm would exit and leave node serving.
// `npm start --ignore-scripts` skips only the prestart build (the build is npm test's).

import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assertFreshBuild } from '../helpers/built-service.js';
import { freePort, refusesConnections } from '../helpers/ports.js';
import { waitForPort } from '../helpers/redis.js';
import { REPO_ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

test("SIGTERM to npm start's npm process stops the service: node drains and exits, npm exits 0", async () => {
  assertFreshBuild();
  const port = await freePort();
  const npm = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(await freePort()),
      HOMESERVER_URL: 'https://matrix.example.org',
      TURN_URIS: 'turn:turn.example.org:3478?transport=udp',
      TURN_SHARED_SECRET: 'npm-start-secret',
      TURN_HEALTH_CHECK_INTERVAL: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, so that whatever npm started can be ended with it.
    detached: true,
  });
  let output = '';
  npm.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  npm.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.once('exit', (code, signal) => resolve({ code, signal })),
  );
  try {
    await waitForPort(port, 30_000);
    const { stdout } = await run('ps', ['-o', 'args=', '--ppid', String(npm.pid)]);
    const npmChild = stdout.trim();

    npm.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    await waitFor(() => refusesConnections(port), { what: `the service's port ${port} to close`, timeoutMs: 10_000 });
    expect(output).toContain('"msg":"stopped"');
    // Why it works: npm's child is node itself, not a shell that would keep the signal.
    expect(npmChild).toBe('node dist/src/main.js');
  } finally {
    // Whatever failed above, leave nothing of it running.
    try {
      process.kill(-npm.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
});

test('npm run demo builds, then execs node the same way', () => {
  expect(scripts.start).toBe('exec node dist/src/main.js');
  expect(scripts.demo).toBe('tsc -p tsconfig.build.json && exec node dist/src/demo/main.js');
});
