// `npm run demo` as a reader meets it, on a machine with nothing else: the built demo
// (dist/src/demo/main.js, what the script runs after building) prints that it is a demo,
// a token and a curl line; pasting that line answers 200 with TURN credentials, another
// token is refused as Synapse refuses it; SIGTERM stops the service and the stand-in
// (exit 0, both ports closed). A port already taken is refused with a word on PORT.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assertFreshBuild } from '../helpers/built-service.js';
import { freePort, refusesConnections } from '../helpers/ports.js';
import { REPO_ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const DEMO_MAIN = join(REPO_ROOT, 'dist', 'src', 'demo', 'main.js');
const run = promisify(execFile);

interface Demo {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let demo: Demo | undefined;
afterEach(async () => {
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
    demo.child.kill('SIGKILL');
    await demo.exited;
  }
  demo = undefined;
});

function startDemo(env: Record<string, string>): Demo {
  assertFreshBuild();
  const child = spawn(process.execPath, [DEMO_MAIN], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exited };
}

test('prints a token and a curl line that answers 200 with credentials; SIGTERM stops both servers, exit 0', async () => {
  const port = await freePort();
  const metricsPort = await freePort();
  demo = startDemo({ PORT: String(port), METRICS_PORT: String(metricsPort) });
  const running = demo;
  const curl = await waitFor(() => /^ {2}(curl .+)$/m.exec(running.output())?.[1], { what: 'the curl line', timeoutMs: 30_000 });
  const output = running.output();
  expect(output).toContain('DEMO: a stand-in homeserver, not for production');
  const token = /^Access token: (demo_\S+)$/m.exec(output)?.[1];
  expect(token).toBeDefined();
  expect(curl).toBe(`curl -s -H 'Authorization: Bearer ${token}' http://127.0.0.1:${port}/_matrix/client/v3/voip/turnServer`);

  // The line as a reader pastes it into a shell.
  const { stdout } = await run('sh', ['-c', curl]);
  const credentials = JSON.parse(stdout) as { username: string; password: string; uris: string[]; ttl: number };
  expect(credentials).toEqual({
    username: expect.stringMatching(/^\d+:@demo:localhost$/),
    password: expect.stringMatching(/^[A-Za-z0-9+/]{27}=$/),
    uris: ['turn:turn.example.org:3478?transport=udp'],
    ttl: 3600,
  });
  const url = `http://127.0.0.1:${port}/_matrix/client/v3/voip/turnServer`;
  expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  const refused = await fetch(url, { headers: { authorization: 'Bearer demo_not-the-token' } });
  expect(refused.status).toBe(401);
  expect(await refused.json()).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: false });

  const standInPort = Number(/homeserver stand-in: http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
  expect(await refusesConnections(standInPort)).toBe(false);
  running.child.kill('SIGTERM');
  expect(await running.exited).toEqual({ code: 0, signal: null });
  for (const closed of [port, metricsPort, standInPort])
    expect({ port: closed, refused: await refusesConnections(closed) }).toEqual({ port: closed, refused: true });
});

test('a port already taken is refused naming PORT, exit 1, and nothing is left listening', async () => {
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    demo = startDemo({ PORT: String(port), METRICS_PORT: String(await freePort()) });
    expect(await demo.exited).toEqual({ code: 1, signal: null });
    expect(demo.output()).toContain(`port ${port} or`);
    expect(demo.output()).toContain('set PORT and METRICS_PORT to free ones');
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});
