// The image's stages, run here as far as they can be without a Docker engine: the COPY and
// RUN instructions of the `build` and `deps` stages are carried out in a scratch folder
// each (WORKDIR /app is that folder, the build context the files .dockerignore admits,
// npm and node the machine's), then the runtime stage's /app is put together from its COPY
// lines, and its CMD started there. So the build compiles with no more than the
// production dependencies and tsc's tools, every package at the lockfile's version; the
// runtime holds production dependencies only, and the service runs on them alone; and
// what the image adds to its base stays small.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { startHomeserver, type StandInHomeserver } from '../../helpers/homeserver.js';
import { freePort } from '../../helpers/ports.js';
import { REPO_ROOT, runTool } from '../../helpers/tools.js';
import { waitFor } from '../../helpers/wait.js';

const dockerfile = DockerfileParser.parse(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
type LockEntry = { version?: string; dev?: boolean };
const lockfile = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};

/**
 * Measured 2026 (npm ci --omit=dev, du -sb): production node_modules 20.0 MB in 2,775 files,
 * dist/src 0.44 MB. The bound catches a heavy dependency slipping into production.
 */
const APP_LAYERS_MAX_BYTES = 32 * 2 ** 20;

/** The instructions of each build stage, by its name. */
function stageInstructions(): Map<string, Instruction[]> {
  const stages = new Map<string, Instruction[]>();
  let current: Instruction[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      current = [];
      const from = dockerfile.getFROMs().find((f) => f.getRange().start.line === instruction.getRange().start.line);
      stages.set(from?.getBuildStage() ?? `stage-${stages.size}`, current);
    }
    current.push(instruction);
  }
  return stages;
}

/** COPY's sources and destination, and the stage it copies from (undefined: the build context). */
function copyArguments(instruction: Instruction): { from: string | undefined; sources: string[]; destination: string } {
  // The arguments leave out the flags; --from is the instruction's own.
  const words = instruction.getArgumentsContent()!.trim().split(/\s+/);
  const from = (instruction as Copy).getFromFlag()?.getValue() ?? undefined;
  return { from, sources: words.slice(0, -1), destination: words.at(-1)! };
}

/** Where a path of a stage's filesystem lies here: /app is the stage's folder; other paths are the base image's. */
function hostPath(stageDir: string, path: string): string | undefined {
  if (path.startsWith('/app/')) return join(stageDir, path.slice('/app/'.length));
  if (path.startsWith('/')) return undefined;
  return join(stageDir, path);
}

function copyInto(stageDir: string, sourceRoot: string, sources: string[], destination: string): void {
  const target = hostPath(stageDir, destination)!;
  for (const source of sources) {
    const from = hostPath(sourceRoot, source);
    if (from === undefined) continue;
    const to = destination.endsWith('/') ? join(target, source.split('/').at(-1)!) : target;
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, { recursive: true });
  }
}

/** Carries out a stage's COPY and RUN instructions in a new folder standing for its /app. */
async function runStage(name: string, instructions: Instruction[], built: Map<string, string>, scratch: string): Promise<string> {
  const stageDir = mkdtempSync(join(scratch, `${name}-`));
  for (const instruction of instructions) {
    const keyword = instruction.getKeyword();
    if (keyword === 'WORKDIR') expect(instruction.getArgumentsContent()).toBe('/app');
    if (keyword === 'COPY') {
      const { from, sources, destination } = copyArguments(instruction);
      copyInto(stageDir, from === undefined ? REPO_ROOT : built.get(from)!, sources, destination);
    }
    if (keyword === 'RUN') {
      const command = instruction.getArgumentsContent()!;
      const result = await runTool('/bin/sh', ['-c', command], {
        cwd: stageDir,
        timeoutMs: 300_000,
        // The machine's npm cache, so the lockfile's packages come from it rather than the registry.
        env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME ?? tmpdir() },
      });
      expect({ stage: name, command, code: result.code, stderr: result.code === 0 ? '' : result.stderr }).toEqual({
        stage: name,
        command,
        code: 0,
        stderr: '',
      });
    }
  }
  return stageDir;
}

/** The packages npm installed in a folder, by path, as it recorded them. */
const installed = (stageDir: string) =>
  (JSON.parse(readFileSync(join(stageDir, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> })
    .packages;

function bytesUnder(path: string): number {
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + bytesUnder(join(path, entry)), 0);
}

const stages = stageInstructions();
let scratch: string;
const built = new Map<string, string>();
let runtimeDir: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'mtc-image-'));
  for (const name of ['build', 'deps']) built.set(name, await runStage(name, stages.get(name)!, built, scratch));
  runtimeDir = mkdtempSync(join(scratch, 'runtime-'));
  for (const instruction of stages.get('runtime')!.filter((i) => i.getKeyword() === 'COPY')) {
    const { from, sources, destination } = copyArguments(instruction);
    copyInto(runtimeDir, from === undefined ? REPO_ROOT : built.get(from)!, sources, destination);
  }
}, 600_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the build stage', () => {
  it('compiles the service', () => {
    expect(existsSync(join(built.get('build')!, 'dist', 'src', 'main.js'))).toBe(true);
  });

  it('installs every package at the version the lockfile names, and no test or lint tool', () => {
    const packages = installed(built.get('build')!);
    for (const [path, entry] of Object.entries(packages))
      expect({ path, version: entry.version }).toEqual({ path, version: lockfile.packages[path]?.version });
    const tools = ['typescript', '@types/node', '@types/koa'];
    for (const dependency of Object.keys(packageJson.devDependencies)) {
      const present = packages[`node_modules/${dependency}`] !== undefined;
      expect({ dependency, present }).toEqual({ dependency, present: tools.includes(dependency) });
    }
    const all = Object.keys(lockfile.packages).filter((p) => p !== '').length;
    expect(Object.keys(packages).length).toBeLessThan(all / 4);
  });
});

describe('the runtime', () => {
  let homeserver: StandInHomeserver;

  beforeAll(async () => {
    homeserver = await startHomeserver();
  });

  afterAll(async () => {
    await homeserver?.close();
  });

  it('holds production dependencies only, at the lockfile versions, and what it adds to the base stays small', () => {
    for (const [path, entry] of Object.entries(installed(built.get('deps')!))) {
      expect({ path, version: entry.version, dev: lockfile.packages[path]?.dev ?? false }).toEqual({
        path,
        version: lockfile.packages[path]?.version,
        dev: false,
      });
    }
    const entries = readdirSync(runtimeDir).sort();
    expect(entries).toEqual(['dist', 'node_modules', 'package.json']);
    const bytes = Object.fromEntries(entries.map((entry) => [entry, bytesUnder(join(runtimeDir, entry))]));
    const total = Object.values(bytes).reduce((a, b) => a + b, 0);
    expect({ bytes, small: total < APP_LAYERS_MAX_BYTES }).toEqual({ bytes, small: true });
  });

  it('runs the service on those alone: --version, then CMD serving until SIGTERM, on which it exits 0', async () => {
    const cmd = JSON.parse(
      stages
        .get('runtime')!
        .find((i) => i.getKeyword() === 'CMD')!
        .getArgumentsContent()!,
    ) as string[];
    expect(cmd[0]).toBe('node');
    const version = await runTool(process.execPath, [...cmd.slice(1), '--version'], { cwd: runtimeDir });
    expect(version.stdout).toContain(packageJson.version);
    const port = await freePort();
    const child = spawn(process.execPath, cmd.slice(1), {
      cwd: runtimeDir,
      env: {
        NODE_ENV: 'production',
        PORT: String(port),
        METRICS_PORT: String(await freePort()),
        HOST: '127.0.0.1',
        HOMESERVER_URL: homeserver.url,
        TURN_URIS: 'turn:turn.example.org:3478',
        TURN_SHARED_SECRET: 'image-build-test-secret',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`the service exited: ${stderr}`);
          return fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
        },
        { timeoutMs: 20_000, what: 'the service built from the image stages to answer /healthz' },
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
