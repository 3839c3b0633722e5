// The Dockerfile, checked without a Docker engine: it lints clean (dockerfile-utils), its
// structure is what production needs (multi-stage, production dependencies only, a
// numeric non-root user, exec-form CMD with node as PID 1, a HEALTHCHECK), the build
// context lets in exactly what it copies, and the HEALTHCHECK and CMD commands do what
// they claim when run here against the compiled service.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { VARIABLES } from '../../../src/config/index.js';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { freePort } from '../../helpers/ports.js';
import { startTestService, type TestService } from '../../helpers/service.js';
import { REPO_ROOT, runTool } from '../../helpers/tools.js';

const dockerfileText = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(dockerfileText);
const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { main: string; engines: { node: string } };

interface Stage {
  name: string | undefined;
  instructions: Instruction[];
}

function stages(): Stage[] {
  const out: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      out.push({
        name:
          dockerfile
            .getFROMs()
            .find((f) => f.getRange().start.line === instruction.getRange().start.line)
            ?.getBuildStage() ?? undefined,
        instructions: [],
      });
    }
    out.at(-1)?.instructions.push(instruction);
  }
  return out;
}

const finalStage = () => stages().at(-1)!;
const keyword = (stage: Stage, name: string) => stage.instructions.filter((i) => i.getKeyword() === name);
const jsonArgs = (instruction: Instruction, prefix = '') => JSON.parse(instruction.getArgumentsContent()!.slice(prefix.length)) as string[];
const fromFlag = (instruction: Instruction) => /(?:^|\s)--from=(\S+)/.exec(textOf(instruction))?.[1];

function textOf(instruction: Instruction): string {
  const { start, end } = instruction.getRange();
  return dockerfileText
    .split('\n')
    .slice(start.line, end.line + 1)
    .join('\n');
}

function healthcheckCommand(): string[] {
  const [healthcheck] = keyword(finalStage(), 'HEALTHCHECK');
  const content = healthcheck!.getArgumentsContent()!;
  const cmdAt = content.indexOf('CMD ');
  return JSON.parse(content.slice(cmdAt + 4)) as string[];
}

describe('Dockerfile', () => {
  it('lints clean with dockerfile-utils', () => {
    expect(validate(dockerfileText)).toEqual([]);
  });

  it('builds on an exactly pinned Node 24 LTS image in every stage', () => {
    const arg = dockerfile.getARGs().find((a) => a.getProperty()?.getName() === 'NODE_IMAGE');
    expect(arg?.getProperty()?.getValue()).toMatch(/^node:24\.\d+\.\d+-(alpine3\.\d+|bookworm-slim|trixie-slim)$/);
    const froms = dockerfile.getFROMs();
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from.getImage()).toBe('${NODE_IMAGE}');
    // The image runs Node 24; the code must keep running on the Node these machines have.
    expect(packageJson.engines.node).toBe('>=20.19');
  });

  it('is multi-stage: the runtime stage takes compiled code and production-only dependencies from earlier stages', () => {
    const all = stages();
    const runtime = finalStage();
    const copies = keyword(runtime, 'COPY');
    const sourceStage = (target: string) => {
      const copy = copies.find((c) => c.getArgumentsContent()!.trim().endsWith(target));
      return copy === undefined ? undefined : fromFlag(copy);
    };
    const depsStage = all.find((s) => s.name === sourceStage('./node_modules'));
    const buildStage = all.find((s) => s.name === sourceStage('./dist/src'));
    expect(depsStage).toBeDefined();
    expect(buildStage).toBeDefined();
    expect(
      keyword(depsStage!, 'RUN')
        .map((r) => r.getArgumentsContent())
        .join(' '),
    ).toMatch(/npm ci --omit=dev/);
    expect(
      keyword(buildStage!, 'RUN')
        .map((r) => r.getArgumentsContent())
        .join(' '),
    ).toMatch(/tsc -p tsconfig\.build\.json/);
    // Nothing but package.json comes from the build context into the runtime stage.
    const fromContext = copies.filter((c) => fromFlag(c) === undefined).map((c) => c.getArgumentsContent()!.trim());
    expect(fromContext).toEqual(['package.json ./']);
  });

  it('runs as a numeric non-root user', () => {
    const users = keyword(finalStage(), 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.getArgumentsContent()!.trim().split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid ?? uid)).toBeGreaterThan(0);
  });

  it('starts node itself in exec form, with no shell or npm in between, on the file package.json names', () => {
    const runtime = finalStage();
    const [cmd] = keyword(runtime, 'CMD');
    expect(jsonArgs(cmd!)).toEqual(['node', 'dist/src/main.js']);
    expect(packageJson.main).toBe('dist/src/main.js');
    const entrypoints = keyword(runtime, 'ENTRYPOINT');
    expect(entrypoints.map((e) => jsonArgs(e))).toEqual([[]]);
    expect(dockerfileText).not.toMatch(/^\s*(CMD|ENTRYPOINT)\s+.*\bnpm\b/m);
  });

  it('declares a HEALTHCHECK in exec form against /healthz, and the ports the service listens on', () => {
    const command = healthcheckCommand();
    expect(command[0]).toBe('node');
    expect(command.join(' ')).toContain('/healthz');
    const exposed = keyword(finalStage(), 'EXPOSE').flatMap((e) => e.getArgumentsContent()!.trim().split(/\s+/));
    expect(exposed.sort()).toEqual([VARIABLES.PORT, VARIABLES.METRICS_PORT].sort());
  });
});

describe('.dockerignore', () => {
  const lines = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('is an allow-list that admits every path the Dockerfile copies from the context, and nothing else', () => {
    expect(lines[0]).toBe('*');
    const admitted = lines.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, ''));
    const copied = dockerfile
      .getInstructions()
      .filter((i) => i.getKeyword() === 'COPY' && fromFlag(i) === undefined)
      .flatMap((i) => i.getArgumentsContent()!.trim().split(/\s+/).slice(0, -1));
    expect([...new Set(copied)].sort()).toEqual([...admitted].sort());
    for (const path of admitted) expect(existsSync(join(REPO_ROOT, path))).toBe(true);
  });
});

describe('the image commands, run against the compiled service', () => {
  let homeserver: StandInHomeserver;
  let service: TestService;

  beforeAll(async () => {
    homeserver = await startHomeserver();
    service = await startTestService({ HOMESERVER_URL: homeserver.url });
  });

  afterAll(async () => {
    await service?.stop();
    await homeserver?.close();
  });

  it('HEALTHCHECK succeeds while the service is alive and fails when nothing answers', async () => {
    const [node, ...args] = healthcheckCommand();
    const alive = await runTool(node === 'node' ? process.execPath : node!, args, {
      env: { PORT: String(service.running.port) },
      timeoutMs: 20_000,
    });
    expect(alive.code).toBe(0);
    const nobody = await runTool(process.execPath, args, { env: { PORT: String(await freePort()) }, timeoutMs: 20_000 });
    expect(nobody.code).toBe(1);
  });

  it('CMD starts the service, and SIGTERM reaches node, which drains and exits 0', async () => {
    const main = join(REPO_ROOT, packageJson.main);
    expect(existsSync(main)).toBe(true); // built by `npm test` (tsc) before jest runs
    const port = await freePort();
    const child = spawn(process.execPath, [main], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        METRICS_PORT: String(await freePort()),
        HOST: '127.0.0.1',
        HOMESERVER_URL: homeserver.url,
        TURN_URIS: 'turn:turn.example.org:3478',
        TURN_SHARED_SECRET: 'dockerfile-test-secret',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const [, ...args] = healthcheckCommand();
      const deadline = Date.now() + 20_000;
      for (;;) {
        const probe = await runTool(process.execPath, args, { env: { PORT: String(port) }, timeoutMs: 10_000 });
        if (probe.code === 0) break;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`service never became healthy: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
