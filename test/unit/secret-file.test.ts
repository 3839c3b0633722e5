// Live secrets: a file is re-read when it changes, including the symlink swap kubelet
// performs when a Kubernetes Secret is updated, and a re-read value is held to the rule
// of the start before it is used. The poll runs on a manual clock: a test moves it to
// run the next check, and awaits that check's end (its stat is real I/O), never a timer.

import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { liveSecret, watchedSecret, type LiveSecret, type LiveSecretOptions } from '../../src/secret-file.js';
import { sharedSecretsProblem } from '../../src/config/shared-secrets.js';
import { manualClock } from '../helpers/clock.js';
import { captureLogs } from '../helpers/logs.js';

/** Any interval: a poll moves the watcher's clock by it. */
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

interface Polled extends LiveSecret {
  /** Resolves once the check under way has looked at the file (the first begins at start). */
  checked(): Promise<void>;
  /** Runs the next check now, as the poll timer would, and resolves once it has looked at the file. */
  poll(): Promise<void>;
}

/** A secret watched on a manual clock of its own: it is checked at start, then only when the test polls. */
function polled(start: (timing: Pick<LiveSecretOptions, 'intervalMs' | 'timers' | 'onChecked'>) => LiveSecret): Polled {
  const clock = manualClock();
  let ended = () => {};
  const checkEnded = () => new Promise<void>((resolve) => (ended = resolve));
  let underWay = checkEnded();
  const secret = start({ intervalMs: INTERVAL_MS, timers: clock, onChecked: () => ended() });
  open.push(secret);
  return Object.assign(secret, {
    checked: () => underWay,
    async poll() {
      // A check still under way would make the timer's turn a no-op.
      await underWay;
      underWay = checkEnded();
      clock.advance(INTERVAL_MS);
      await underWay;
    },
  });
}

const watch = (path: string, value: string, options: LiveSecretOptions = {}): Polled =>
  polled((timing) => liveSecret({ value, path }, { ...timing, ...options }));

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
    await secret.poll();
    expect(secret.current()).toBe('second-and-longer');
    expect(changes).toBe(1);
  });

  it('is read at once on refresh(), without waiting for the next poll, and held to its rule', () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'first');
    // An interval no test waits out: only refresh() can see the rewrite.
    const secret = watch(path, 'first', { intervalMs: 3_600_000, validate: sharedSecretsProblem });
    writeFileSync(path, 'second-and-longer');
    expect(secret.refresh()).toBe('second-and-longer');
    expect(secret.current()).toBe('second-and-longer');
    writeFileSync(path, ',third');
    expect(secret.refresh()).toBe('second-and-longer');
  });

  it('does not miss a rotation between reading the configuration and starting to watch', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'rotated-already');
    const secret = watch(path, 'as-read-at-start');
    await secret.checked();
    expect(secret.current()).toBe('rotated-already');
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
    await secret.poll();
    expect(secret.current()).toBe('version-two');
  });

  it('keeps the previous value when the file is emptied, and says so without the secret', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'keep-me-9f2');
    const errors: string[] = [];
    const secret = watch(path, 'keep-me-9f2', { onError: (m) => errors.push(m) });
    writeFileSync(path, '   \n');
    await secret.poll();
    expect(errors.length).toBeGreaterThan(0);
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
    await secret.poll();
    expect(errors.some((m) => m.includes('ENOENT'))).toBe(true);
    expect(secret.current()).toBe('before');
    writeFileSync(path, 'after');
    await secret.poll();
    expect(secret.current()).toBe('after');
  });

  it('is no longer followed once closed', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'old');
    const clock = manualClock();
    const closed = liveSecret({ value: 'old', path }, { intervalMs: INTERVAL_MS, timers: clock });
    closed.close();
    // A second watcher on the same file shows when the change has been seen.
    const witness = watch(path, 'old');
    writeFileSync(path, 'new-value');
    await witness.poll();
    expect(witness.current()).toBe('new-value');
    expect(closed.current()).toBe('old');
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('a watched secret (as the service uses one)', () => {
  it('logs a change and a failed re-read under the setting that names the file, never the value', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'watched-first-51c');
    const logs = captureLogs();
    const logger = createLogger('info', logs.stream);
    const secret = polled((timing) => watchedSecret({ value: 'watched-first-51c', path }, 'TURN_SHARED_SECRET_FILE', logger, timing));
    writeFileSync(path, 'watched-second-51c');
    await secret.poll();
    expect(secret.current()).toBe('watched-second-51c');
    unlinkSync(path);
    await secret.poll();
    expect(logs.entries().some((e) => e.level === 'error')).toBe(true);
    const entries = logs.entries().map(({ level, setting, msg }) => ({ level, setting, msg }));
    expect(entries).toEqual([
      { level: 'info', setting: 'TURN_SHARED_SECRET_FILE', msg: 'secret file changed; using the new value' },
      {
        level: 'error',
        setting: 'TURN_SHARED_SECRET_FILE',
        msg: `cannot re-read secret file ${path} (ENOENT); keeping the previous value`,
      },
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

/** kubelet's update of a Secret: a new folder holding every key, swapped in by renaming ..data. */
function kubeletMount(dir: string, name: string) {
  let version = 0;
  const write = (contents: string) => {
    version += 1;
    mkdirSync(join(dir, `..v${version}`));
    writeFileSync(join(dir, `..v${version}`, name), contents);
    symlinkSync(`..v${version}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    if (version > 1) rmSync(join(dir, `..v${version - 1}`), { recursive: true });
  };
  return {
    path: join(dir, name),
    write(contents: string) {
      write(contents);
      if (version === 1) symlinkSync(join('..data', name), join(dir, name));
    },
  };
}

describe('a re-read value, held to the rule of the start', () => {
  it('is refused when it breaks the rule: the last good value stays, and the file and the rule are reported, never the value', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'good-old-4e1');
    const errors: string[] = [];
    let changes = 0;
    const secret = watch(path, 'good-old-4e1', {
      validate: sharedSecretsProblem,
      onError: (m) => errors.push(m),
      onChange: () => (changes += 1),
    });
    writeFileSync(path, ',fresh-new-4e1\n');
    await secret.poll();
    expect(errors.length).toBeGreaterThan(0);
    expect(secret.current()).toBe('good-old-4e1');
    expect(errors).toEqual([
      `secret file ${path} refused: the new value has an empty entry in its comma-separated list; keeping the previous value`,
    ]);
    expect(changes).toBe(0);

    writeFileSync(path, 'fresh-new-4e1,good-old-4e1\n');
    await secret.poll();
    expect(secret.current()).toBe('fresh-new-4e1,good-old-4e1');
    expect(changes).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('is reported once per bad content, however often the same content is swapped in, and again after a good one', async () => {
    const mount = kubeletMount(dir, 'secret');
    mount.write('good-5a0');
    const errors: string[] = [];
    const secret = watch(mount.path, 'good-5a0', { validate: sharedSecretsProblem, onError: (m) => errors.push(m) });

    mount.write('bad-5a0,');
    await secret.poll();
    expect(errors).toHaveLength(1);
    // kubelet swaps every key of a Secret when any one changes: the same bad content, a new file.
    mount.write('bad-5a0,');
    await secret.poll();
    mount.write('bad-5a0,');
    await secret.poll();
    expect(errors).toHaveLength(1);

    mount.write(',other-bad-5a0');
    await secret.poll();
    expect(errors).toHaveLength(2);
    mount.write('good-new-5a0');
    await secret.poll();
    expect(secret.current()).toBe('good-new-5a0');
    mount.write('bad-5a0,');
    await secret.poll();
    expect(errors).toHaveLength(3);
    expect(secret.current()).toBe('good-new-5a0');
    expect(errors.join('\n')).not.toMatch(/5a0/);
  });

  it('takes what passes the rule', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'one-9b2');
    const secret = watch(path, 'one-9b2', { validate: sharedSecretsProblem });
    writeFileSync(path, ' two-9b2 , one-9b2 \n');
    await secret.poll();
    expect(secret.current()).toBe('two-9b2 , one-9b2');
  });
});

describe('a watched secret, counted', () => {
  const count = async (registry: Registry, secret: string) => {
    const metric = await registry.getSingleMetric('matrix_turn_secret_reload_failures_total')?.get();
    return metric?.values.find((v) => v.labels.secret === secret)?.value;
  };

  it('counts every refused or failed re-read under its variable, from 0 while watching, and logs each once', async () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'counted-first-77d');
    const registry = new Registry();
    const metrics = createMetrics(registry, { defaultMetrics: false });
    const logs = captureLogs();
    const logger = createLogger('info', logs.stream);
    const secret = polled((timing) =>
      watchedSecret({ value: 'counted-first-77d', path }, 'TURN_SHARED_SECRET_FILE', logger, {
        ...timing,
        validate: sharedSecretsProblem,
        failures: metrics.secretReloadFailures,
      }),
    );
    expect(await count(registry, 'TURN_SHARED_SECRET_FILE')).toBe(0);

    writeFileSync(path, ',counted-second-77d');
    await secret.poll();
    expect(await count(registry, 'TURN_SHARED_SECRET_FILE')).toBe(1);
    writeFileSync(path, '\n');
    await secret.poll();
    expect(await count(registry, 'TURN_SHARED_SECRET_FILE')).toBe(2);
    unlinkSync(path);
    await secret.poll();
    expect(await count(registry, 'TURN_SHARED_SECRET_FILE')).toBe(3);

    expect(secret.current()).toBe('counted-first-77d');
    expect(logs.entries().map(({ level, setting, msg }) => ({ level, setting, msg }))).toEqual([
      {
        level: 'error',
        setting: 'TURN_SHARED_SECRET_FILE',
        msg: `secret file ${path} refused: the new value has an empty entry in its comma-separated list; keeping the previous value`,
      },
      { level: 'error', setting: 'TURN_SHARED_SECRET_FILE', msg: `secret file ${path} is empty; keeping the previous value` },
      {
        level: 'error',
        setting: 'TURN_SHARED_SECRET_FILE',
        msg: `cannot re-read secret file ${path} (ENOENT); keeping the previous value`,
      },
    ]);
    expect(logs.text()).not.toContain('77d');
    expect(await registry.metrics()).not.toContain('77d');
  });

  it('exports no series for an inline secret, which is never re-read', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { defaultMetrics: false });
    watchedSecret({ value: 'inline' }, 'TURN_SHARED_SECRET', createLogger('silent', captureLogs().stream), {
      failures: metrics.secretReloadFailures,
    }).close();
    expect(await count(registry, 'TURN_SHARED_SECRET')).toBeUndefined();
  });
});
