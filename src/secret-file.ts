// Live secrets: a secret given inline never changes; one given as a file (Kubernetes
// mounts Secrets as files and swaps them on rotation) is re-read when the file changes,
// so rotating a secret needs no restart. Polling with stat follows the symlink swap that
// kubelet performs, which inotify on the old file would miss.
//
// The polling is our own rather than fs.watchFile's: watchFile takes its first stat
// asynchronously and reports only differences from it, so a rotation landing between the
// configuration being read and that first stat would be missed for good. Here the first
// check always re-reads the file, and every later one compares with what was last read.
// `watchedSecret` is the form the service uses: a live secret whose re-reads are logged.

import { readFileSync, stat } from 'node:fs';
import type { SecretRef } from './config.js';
import type { Logger } from './logger.js';

export interface LiveSecret {
  /** The current value; never logged. */
  current(): string;
  close(): void;
}

export interface LiveSecretOptions {
  /** How often the file is checked, in milliseconds. Default 1000. */
  intervalMs?: number;
  /** Told when a re-read fails (the previous value stays in force). */
  onError?: (message: string) => void;
  onChange?: () => void;
}

export function liveSecret(ref: SecretRef, options: LiveSecretOptions = {}): LiveSecret {
  let value = ref.value;
  const path = ref.path;
  if (path === undefined) return { current: () => value, close: () => {} };
  // What the file looked like when last read; undefined until the first check.
  let seen: string | undefined;
  let checking = false;
  let closed = false;

  const reread = () => {
    try {
      const next = readFileSync(path, 'utf8').trim();
      if (next === '') {
        options.onError?.(`secret file ${path} is empty; keeping the previous value`);
        return;
      }
      if (next !== value) {
        value = next;
        options.onChange?.();
      }
    } catch (error) {
      options.onError?.(`cannot re-read secret file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}); keeping the previous value`);
    }
  };

  const check = () => {
    if (checking) return;
    checking = true;
    stat(path, (error, stats) => {
      checking = false;
      if (closed) return;
      // ino as well as mtime and size: kubelet's swap points the path at a new file.
      const now = error ? `missing ${error.code ?? ''}` : `${stats.ino} ${stats.size} ${stats.mtimeMs}`;
      if (now === seen) return;
      seen = now;
      reread();
    });
  };

  const timer = setInterval(check, options.intervalMs ?? 1000);
  timer.unref();
  check();
  return {
    current: () => value,
    close: () => {
      closed = true;
      clearInterval(timer);
    },
  };
}

/**
 * A live secret whose re-reads are logged under `setting` (the X_FILE variable's name):
 * a failed re-read as an error, a changed value as info; never the value itself.
 */
export function watchedSecret(ref: SecretRef, setting: string, logger: Logger, options: { intervalMs?: number } = {}): LiveSecret {
  return liveSecret(ref, {
    ...options,
    onError: (message) => logger.error({ setting }, message),
    onChange: () => logger.info({ setting }, 'secret file changed; using the new value'),
  });
}
