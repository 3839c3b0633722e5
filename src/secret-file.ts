// Live secrets: a secret given inline never changes; one given as a file (Kubernetes
// mounts Secrets as files and swaps them on rotation) is re-read when the file changes,
// so rotating a secret needs no restart. Polling with stat follows the symlink swap that
// kubelet performs, which inotify on the old file would miss.
//
// The polling is our own rather than fs.watchFile's: watchFile takes its first stat
// asynchronously and reports only differences from it, so a rotation landing between the
// configuration being read and that first stat would be missed for good. Here the first
// check always re-reads the file, and every later one compares with what was last read.
//
// A re-read value is held to the rule the configuration held the secret to at start (the
// caller passes that one rule as `validate`): a value that breaks it is refused and the
// last good one stays in force, as a failed read does. Otherwise a rewrite the service
// would have refused to start with (say a shared-secret list with an empty first entry,
// which signs with an empty key) would be taken silently while the service runs.
// `watchedSecret` is the form the service uses: a live secret whose re-reads are logged
// and whose failures are counted for an alert.

import { readFileSync, stat, statSync, type Stats } from 'node:fs';
import type { Counter } from 'prom-client';
import { systemTimers, type Timers } from './clock.js';
import { errorCode } from './error-fields.js';
import type { Logger } from './logger.js';

/** A secret given inline (`value`) or as a file (`path`, whose contents `value` holds as read at start). */
export interface SecretRef {
  readonly value: string;
  readonly path?: string;
}

export interface LiveSecret {
  /** The current value; never logged. */
  current(): string;
  /**
   * The value after checking the file now, synchronously, rather than as last polled: for
   * the rare moment that must not use a value up to one interval old (a reconnection).
   */
  refresh(): string;
  close(): void;
}

export interface LiveSecretOptions {
  /** How often the file is checked, in milliseconds. Default 1000. */
  intervalMs?: number;
  /** What the checks run on; default Node's. */
  timers?: Timers;
  /**
   * The rule the value was held to at start: returns the rule a value breaks, in words
   * that show none of it, or undefined when it is good. A re-read value that breaks it is
   * refused. Emptiness needs no rule: an empty file is always refused.
   */
  validate?: (value: string) => string | undefined;
  /**
   * Told when a re-read fails or is refused (the previous value stays in force): once per
   * failure, not at every check while the file stays as it is, and never with the value.
   */
  onError?: (message: string) => void;
  onChange?: () => void;
  /**
   * Test seam: told after every check of the file has ended, whatever it found, so a test
   * that moves the clock can wait for the check's stat to come back instead of polling.
   * The service never passes it.
   */
  onChecked?: () => void;
}

export function liveSecret(ref: SecretRef, options: LiveSecretOptions = {}): LiveSecret {
  let value = ref.value;
  const path = ref.path;
  if (path === undefined) return { current: () => value, refresh: () => value, close: () => {} };
  // What the file looked like when last read; undefined until the first check.
  let seen: string | undefined;
  // The failure last reported, until a good read: kubelet swaps in a new file for every
  // key of a Secret when any one changes, and the same bad content must not be reported
  // (and counted) again each time. Holds the refused content itself, which stays in memory only.
  let failure: string | undefined;
  let checking = false;
  let closed = false;

  const fail = (key: string, message: string) => {
    if (key === failure) return;
    failure = key;
    options.onError?.(message);
  };

  const reread = () => {
    let next: string;
    try {
      next = readFileSync(path, 'utf8').trim();
    } catch (error) {
      const code = errorCode(error) ?? 'error';
      fail(`unreadable ${code}`, `cannot re-read secret file ${path} (${code}); keeping the previous value`);
      return;
    }
    if (next === '') {
      fail('empty', `secret file ${path} is empty; keeping the previous value`);
      return;
    }
    if (next === value) {
      failure = undefined;
      return;
    }
    const broken = options.validate?.(next);
    if (broken !== undefined) {
      fail(`refused ${next}`, `secret file ${path} refused: the new value ${broken}; keeping the previous value`);
      return;
    }
    failure = undefined;
    value = next;
    options.onChange?.();
  };

  // ino as well as mtime and size: kubelet's swap points the path at a new file.
  const fingerprint = (error: NodeJS.ErrnoException | null, stats: Stats | undefined) =>
    error || stats === undefined ? `missing ${error?.code ?? ''}` : `${stats.ino} ${stats.size} ${stats.mtimeMs}`;
  const compare = (now: string) => {
    if (now === seen) return;
    seen = now;
    reread();
  };

  const check = () => {
    if (checking) return;
    checking = true;
    stat(path, (error, stats) => {
      checking = false;
      if (closed) return;
      compare(fingerprint(error, stats));
      options.onChecked?.();
    });
  };

  const refresh = () => {
    if (closed) return value;
    let stats: Stats | undefined;
    let error: NodeJS.ErrnoException | null = null;
    try {
      stats = statSync(path);
    } catch (caught) {
      error = caught as NodeJS.ErrnoException;
    }
    compare(fingerprint(error, stats));
    return value;
  };

  const timers = options.timers ?? systemTimers;
  const timer = timers.setInterval(check, options.intervalMs ?? 1000);
  check();
  return {
    current: () => value,
    refresh,
    close: () => {
      closed = true;
      timers.clearInterval(timer);
    },
  };
}

export interface WatchedSecretOptions extends Pick<LiveSecretOptions, 'intervalMs' | 'timers' | 'onChecked'> {
  /** The secret's rule at start (see LiveSecretOptions.validate). */
  validate?: (value: string) => string | undefined;
  /**
   * matrix_turn_secret_reload_failures_total: counted under `setting` at each failed or
   * refused re-read, and present at 0 from the start, so increase() sees the first one.
   */
  failures?: Counter<'secret'>;
}

/**
 * A live secret whose re-reads are logged under `setting` (the X_FILE variable's name):
 * a failed or refused re-read as an error, naming the file and the rule broken, and
 * counted; a changed value as info; never the value itself.
 */
export function watchedSecret(ref: SecretRef, setting: string, logger: Logger, options: WatchedSecretOptions = {}): LiveSecret {
  const { failures, ...rest } = options;
  const counted = ref.path === undefined ? undefined : failures?.labels(setting);
  counted?.inc(0);
  return liveSecret(ref, {
    ...rest,
    onError: (message) => {
      counted?.inc();
      logger.error({ setting }, message);
    },
    onChange: () => logger.info({ setting }, 'secret file changed; using the new value'),
  });
}
