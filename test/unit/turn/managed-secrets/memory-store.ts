// A SecretStore in memory, for the tests of the rotation's arithmetic: the set and the marks
// as secret-store.ts keeps them in Redis (the same contentsOf reads them), the lock with its
// expiry on the test's clock, and a switch that makes every call fail (Redis unreachable).

import type { Clock } from '../../../../src/clock.js';
import { contentsOf, type ManagedSecret, type SecretStore } from '../../../../src/turn/managed-secrets/secret-store.js';

export interface MemoryStore extends SecretStore {
  readonly members: Set<string>;
  readonly marks: Map<string, string>;
  /** While true every call rejects, as with Redis unreachable. */
  failing: boolean;
}

export function memoryStore(clock: Clock): MemoryStore {
  const members = new Set<string>();
  const marks = new Map<string, string>();
  let lock: { token: string; untilMs: number } | undefined;
  const store: MemoryStore = {
    members,
    marks,
    failing: false,
    read: () => call(() => contentsOf([...members], Object.fromEntries(marks))),
    addUnlessRecent: (secret: ManagedSecret, intervalMs: number) =>
      call(() => {
        if ([...marks.values()].some((at) => secret.createdMs - Number(at) < intervalMs)) return false;
        marks.set(secret.id, String(secret.createdMs));
        members.add(secret.value);
        return true;
      }),
    remove: (secrets, staleIds) =>
      call(() => {
        for (const secret of secrets) {
          members.delete(secret.value);
          marks.delete(secret.id);
        }
        for (const id of staleIds) marks.delete(id);
      }),
    lock: (token, ttlMs) =>
      call(() => {
        if (lock !== undefined && lock.untilMs > clock.nowMs()) return false;
        lock = { token, untilMs: clock.nowMs() + ttlMs };
        return true;
      }),
    unlock: (token) =>
      call(() => {
        if (lock?.token === token) lock = undefined;
      }),
  };
  function call<T>(work: () => T): Promise<T> {
    return store.failing ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) : Promise.resolve().then(work);
  }
  return store;
}
