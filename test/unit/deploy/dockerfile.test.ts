// The Dockerfile, checked without a Docker engine: it lints clean (dockerfile-utils), its
// bases are pinned by tag and digest on one Alpine release, its structure is what
// production needs (multi-stage, a build installing only what tsc needs, production
// dependencies only at run time, node without npm on a clean base, no layer that only
// deletes, OCI labels, a numeric non-root user, exec-form CMD with node as PID 1, a
// HEALTHCHECK), the build context lets in exactly what it copies, and the HEALTHCHECK and
// CMD commands do what they claim when run here against the compiled service. What the
// stages' commands produce is checked by running them: image-build.test.ts.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerfileParser, type Instruction, type Label } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { VARIABLES } from '../../../src/config/index.js';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { freePort } from '../../helpers/ports.js';
import { startTestService, type TestService } from '../../helpers/service.js';
import { REPO_ROOT, runTool } from '../../helpers/tools.js';

const dockerfileText = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(dockerfileText);
const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  main: string;
  engines: { node: string };
};

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

  const argDefault = (name: string) =>
    dockerfile
      .getARGs()
      .find((a) => a.getProperty()?.getName() === name)
      ?.getProperty()
      ?.getValue();

  it('pins its bases by tag and digest: Node 24 LTS on Alpine for the build, the same Alpine release for the runtime', () => {
    const node = /^node:(24)\.\d+\.\d+-alpine(3\.\d+)@sha256:[0-9a-f]{64}$/.exec(argDefault('NODE_IMAGE') ?? '');
    const alpine = /^alpine:(3\.\d+)\.\d+@sha256:[0-9a-f]{64}$/.exec(argDefault('ALPINE_IMAGE') ?? '');
    expect(node).not.toBeNull();
    expect(alpine).not.toBeNull();
    // node's binary is built against that Alpine release's C++ runtime.
    expect(alpine![1]).toBe(node![2]);
    expect(stages().map((stage) => [stage.name, stage.instructions[0]!.getArgumentsContent()!.split(/\s+/)[0]])).toEqual([
      ['build', '${NODE_IMAGE}'],
      ['deps', '${NODE_IMAGE}'],
      ['runtime', '${ALPINE_IMAGE}'],
    ]);
    // Where the digests came from and how to bump them is written beside them.
    expect(dockerfileText).toMatch(/To bump\s+(#\s+)?them:/);
    // The image's Node is one package.json supports.
    const minimum = /^>=(\d+)(\.\d+)*$/.exec(packageJson.engines.node);
    expect(minimum).not.toBeNull();
    expect(Number(node![1])).toBeGreaterThanOrEqual(Number(minimum![1]));
  });

  it("installs in the build stage only the production dependencies and tsc's tools, by npm ci from the lockfile", () => {
    const runs = keyword(
      stages().find((s) => s.name === 'build')!,
      'RUN',
    ).map((r) => r.getArgumentsContent()!);
    const install = runs.find((r) => r.includes('npm ci'))!;
    expect(install).toBeDefined();
    expect(install).not.toMatch(/--omit|--include|npm install|npm i\b/);
    const tools = JSON.parse(/const tools = (\[[^\]]*\]);/.exec(install)![1]!) as string[];
    expect(tools).toEqual(['typescript', '@types/node', '@types/koa']);
    const devDependencies = Object.keys(
      (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: object }).devDependencies,
    );
    for (const tool of tools) expect(devDependencies).toContain(tool);
    expect(devDependencies.length).toBeGreaterThan(tools.length);
  });

  it('has no layer that only deletes: the runtime stage removes nothing, and takes node alone from the node image', () => {
    const runtime = finalStage();
    for (const run of keyword(runtime, 'RUN')) expect(run.getArgumentsContent()).not.toMatch(/\brm\b|apk del|npm uninstall/);
    const fromBuild = keyword(runtime, 'COPY')
      .filter((c) => fromFlag(c) === 'build')
      .map((c) =>
        c
          .getArgumentsContent()!
          .replace(/--from=\S+\s+/, '')
          .trim(),
      );
    expect(fromBuild).toEqual(['/usr/local/bin/node /usr/local/bin/node', '/app/dist/src ./dist/src']);
  });

  it("carries the OCI labels: title, description, source, licenses (package.json's), version and revision from build arguments", () => {
    const labels = Object.fromEntries(
      keyword(finalStage(), 'LABEL').flatMap((l) => (l as Label).getProperties().map((p) => [p.getName(), p.getValue()])),
    );
    expect(labels).toMatchObject({
      'org.opencontainers.image.title': 'matrix-turn-credentials',
      'org.opencontainers.image.source': 'https://github.com/matrix-turn-credentials/matrix-turn-credentials',
      'org.opencontainers.image.licenses': packageJson.license,
      'org.opencontainers.image.version': '${VERSION}',
      'org.opencontainers.image.revision': '${REVISION}',
    });
    expect(labels['org.opencontainers.image.description']).toBeTruthy();
    expect(packageJson.license).toBe('Apache-2.0');
    // The version label defaults to the version being built, when no --build-arg says otherwise.
    expect(argDefault('VERSION')).toBe(packageJson.version);
    expect(argDefault('REVISION')).toBeDefined();
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
