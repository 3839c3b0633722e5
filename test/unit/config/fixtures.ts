// Shared by the configuration's tests: a small valid environment, files written to a
// temporary directory of the test file's own, and the problems loadConfig reports.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Config } from '../../../src/config/index.js';

export const BASE = {
  HOMESERVER_URL: 'https://matrix.example.org',
  TURN_URIS: 'turn:turn.example.org:3478?transport=udp',
  TURN_SHARED_SECRET: 'base-secret',
};

export interface TemporaryFiles {
  /** The directory, for paths that must not exist. */
  readonly dir: string;
  /** Writes a new file holding `contents` and returns its path. */
  file(contents: string): string;
}

/** A temporary directory made before the calling file's tests and removed after them. */
export function temporaryFiles(): TemporaryFiles {
  let dir: string | undefined;
  let count = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtc-config-'));
  });
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  const files = {
    get dir(): string {
      if (dir === undefined) throw new Error('temporaryFiles() is used in tests, after beforeAll');
      return dir;
    },
    file(contents: string): string {
      const path = join(files.dir, `file-${(count += 1)}`);
      writeFileSync(path, contents);
      return path;
    },
  };
  return files;
}

/** The problems loadConfig reports, or a failure if it accepted the configuration. */
export function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('configuration was accepted');
}

export function problemFor(env: Record<string, string>, name: string): string {
  const problems = problemsOf(env);
  const found = problems.find((p) => p.startsWith(`${name}:`));
  if (found === undefined) throw new Error(`no problem reported for ${name}; got ${JSON.stringify(problems)}`);
  return found;
}

/** The one server of the flat TURN settings, read as its variables name its parts. */
export function flatTurn(config: Config) {
  const [server] = config.turn.servers;
  const credential = server?.credential;
  return {
    uris: server?.uris,
    sharedSecret: credential?.kind === 'shared-secret' ? credential.sharedSecrets : undefined,
    username: credential?.kind === 'static' ? credential.username : undefined,
    password: credential?.kind === 'static' ? credential.password : undefined,
  };
}
