// Live secrets: a file is re-read when it changes, including the symlink swap kubelet
// performs when a Kubernetes Secret is updated. Every wait is for a condition, bounded.

import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/logger.js';
import { liveSecret, watchedSecret, type LiveSecret } from '../../src/secret-file.js';
import { captureLogs } from '../helpers/logs.js';
import { waitFor } from '../helpers/wait.js';

const INTERVAL_MS = 20;

let dir: string;
const open: LiveSecret[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mtc-secret-'));
});
afterEach(() => {
  for (const secret of open.splice(0)) secret.close();
  rmSync(dir, { recursive: true, force: true });
});

function watch(path: string, value: string, options: { onChange?: () => void; onError?: (message: string) => void } = {}): LiveSecret {
  const secret = liveSecret({ value, path }, { intervalMs: INTERVAL_MS, ...options });
  open.push(secret);
  return secret;
}

describe('an inline secret', () => {
  it('is its value, for good', () => {
    const secret = liveSecret({ value: 'inline' });
    expect(secret.current()).toBe('inline');
    secret.close();
    expect(secret.current()).toBe('inline');
  });
});

describe('a secret file', () => {
  it('is re-read when it is rewritten, trimmed, and the change reported', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'first\n');
    let changes = 0;
    const secret = watch(path, 'first', { onChange: () => (changes += 1) });
    writeFileSync(path, 'second-and-longer\n');
    await waitFor(() => secret.current() === 'second-and-longer', { what: 'the rewritten secret' });
    expect(changes).toBe(1);
  });

  it('does not miss a rotation between reading the configuration and starting to watch', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'rotated-already');
    const secret = watch(path, 'as-read-at-start');
    await waitFor(() => secret.current() === 'rotated-already', { what: 'the first check to re-read the file' });
  });

  it('follows a kubelet-style swap of the ..data symlink', async () => {
    // kubelet: <mount>/secret -> ..data/secret, ..data -> ..<timestamp>/; an update writes a
    // new timestamped folder and renames a new ..data link over the old one.
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'secret'), 'version-one');
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'secret'), join(dir, 'secret'));
    const secret = watch(join(dir, 'secret'), 'version-one');

    mkdirSync(join(dir, '..v2'));
    writeFileSync(join(dir, '..v2', 'secret'), 'version-two');
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..v1'), { recursive: true });
    await waitFor(() => secret.current() === 'version-two', { what: 'the swapped secret' });
  });

  it('keeps the previous value when the file is emptied, and says so without the secret', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'keep-me-9f2');
    const errors: string[] = [];
    const secret = watch(path, 'keep-me-9f2', { onError: (m) => errors.push(m) });
    writeFileSync(path, '   \n');
    await waitFor(() => errors.length > 0, { what: 'the empty-file report' });
    expect(secret.current()).toBe('keep-me-9f2');
    expect(errors[0]).toMatch(/is empty; keeping the previous value/);
    expect(errors.join('\n')).not.toContain('keep-me-9f2');
  });

  it('keeps the previous value while the file is gone, and picks up the one that comes back', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'before');
    const errors: string[] = [];
    const secret = watch(path, 'before', { onError: (m) => errors.push(m) });
    unlinkSync(path);
    await waitFor(() => errors.some((m) => m.includes('ENOENT')), { what: 'the missing-file report' });
    expect(secret.current()).toBe('before');
    writeFileSync(path, 'after');
    await waitFor(() => secret.current() === 'after', { what: 'the re-created secret' });
  });

  it('is no longer followed once closed', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'old');
    const closed = liveSecret({ value: 'old', path }, { intervalMs: INTERVAL_MS });
    closed.close();
    // A second watcher on the same file shows when the change has been seen.
    const witness = watch(path, 'old');
    writeFileSync(path, 'new-value');
    await waitFor(() => witness.current() === 'new-value', { what: 'the witness to see the change' });
    expect(closed.current()).toBe('old');
  });
});

describe('a watched secret (as the service uses one)', () => {
  it('logs a change and a failed re-read under the setting that names the file, never the value', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'watched-first-51c');
    const logs = captureLogs();
    const secret = watchedSecret({ value: 'watched-first-51c', path }, 'TURN_SHARED_SECRET_FILE', createLogger('info', logs.stream), { intervalMs: INTERVAL_MS });
    open.push(secret);
    writeFileSync(path, 'watched-second-51c');
    await waitFor(() => secret.current() === 'watched-second-51c', { what: 'the rewritten secret' });
    unlinkSync(path);
    await waitFor(() => logs.entries().some((e) => e.level === 'error'), { what: 'the failed re-read to be logged' });
    const entries = logs.entries().map(({ level, setting, msg }) => ({ level, setting, msg }));
    expect(entries).toEqual([
      { level: 'info', setting: 'TURN_SHARED_SECRET_FILE', msg: 'secret file changed; using the new value' },
      { level: 'error', setting: 'TURN_SHARED_SECRET_FILE', msg: `cannot re-read secret file ${path} (ENOENT); keeping the previous value` },
    ]);
    expect(secret.current()).toBe('watched-second-51c');
    expect(logs.text()).not.toContain('watched-');
  });

  it('logs nothing for an inline secret', () => {
    const logs = captureLogs();
    const secret = watchedSecret({ value: 'inline-value' }, 'TURN_SHARED_SECRET', createLogger('trace', logs.stream));
    secret.close();
    expect(secret.current()).toBe('inline-value');
    expect(logs.lines).toEqual([]);
  });
});
