// Live secrets: a secret given inline never changes; one given as a file (Kubernetes
// mounts Secrets as files and swaps them on rotation) is re-read when the file changes,
// so rotating a secret needs no restart. Polling with stat follows the symlink swap that
// kubelet performs, which inotify on the old file would miss.

import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { SecretRef } from './config.js';

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
  const listener = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
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
  watchFile(path, { interval: options.intervalMs ?? 1000, persistent: false }, listener);
  return {
    current: () => value,
    close: () => unwatchFile(path, listener),
  };
}
