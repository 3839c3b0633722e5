// When the set changes, and the change itself: a new secret once the newest of ours is an
// interval old, and a secret removed once no credential signed with it can still be valid.
//
// A secret signs until a newer one takes over, and every replica has switched within
// `switchMs` of that (signing-secret.ts reads the set that often); a credential it signed
// is then good for the credentials' lifetime, plus a margin for the clocks of the service
// and coturn to disagree. So a secret leaves the set `switchMs + ttl + margin` after the
// next one was created, never sooner. With one new secret per interval at most, the set
// then holds at most ceil((ttl + margin + switchMs) / interval) + 1 of ours, which is
// within maxManagedSecrets' ceil((ttl + margin) / interval) + 2 while switchMs is at most
// an interval.
//
// One replica at a time does the work, under a lock that expires on its own (a replica
// that dies holding it delays the next rotation by the lock's lifetime, nothing more); the
// addition itself is conditional in Redis (secret-store.ts), so not even a lock that
// expired mid-way lets an interval have two new secrets.

import { randomBytes } from 'node:crypto';
import { secretId, type ManagedSecret, type SecretStore, type SetContents } from './secret-store.js';

export interface RotationPolicy {
  /** Time between two new secrets, in milliseconds. */
  readonly intervalMs: number;
  /**
   * How long after a newer secret took over a credential signed with the older one may
   * still be valid: switchMs + ttl + margin, in milliseconds.
   */
  readonly retireAfterMs: number;
}

/** The most secrets of ours the set may hold: ceil((ttl + margin) / interval) + 2. */
export function maxManagedSecrets(ttlSeconds: number, marginSeconds: number, intervalSeconds: number): number {
  return Math.ceil((ttlSeconds + marginSeconds) / intervalSeconds) + 2;
}

/** A new secret: 256 random bits, base64url (no comma, so it never splits a list of secrets). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether a new secret is due: none of ours, or the newest an interval old. */
export function due(ours: readonly ManagedSecret[], nowMs: number, intervalMs: number): boolean {
  const newest = ours.at(-1);
  return newest === undefined || nowMs - newest.createdMs >= intervalMs;
}

/** Ours that no credential can still be valid for: a newer one took over at least retireAfterMs ago. */
export function retired(ours: readonly ManagedSecret[], nowMs: number, policy: RotationPolicy): ManagedSecret[] {
  return ours.filter((_, index) => {
    const next = ours[index + 1];
    return next !== undefined && nowMs - next.createdMs >= policy.retireAfterMs;
  });
}

/** Whether the set, as read at `nowMs`, needs a change. */
export function needsRotation(contents: SetContents, nowMs: number, policy: RotationPolicy): boolean {
  return due(contents.ours, nowMs, policy.intervalMs) || retired(contents.ours, nowMs, policy).length > 0 || contents.staleIds.length > 0;
}

export interface RotationOutcome {
  /** The secret this replica added, if it did. */
  readonly created?: ManagedSecret;
  /** How many of ours it removed. */
  readonly removed: number;
}

export interface RotateDeps {
  readonly nowMs: () => number;
  /** Default generateSecret. */
  readonly newSecret?: () => string;
  /** How long the lock is held at most: longer than every call of a rotation together. */
  readonly lockTtlMs: number;
}

/**
 * One rotation: under the lock, the set read afresh, the retired secrets and stale marks
 * removed, then a new secret added if one is due. Resolves undefined when another replica
 * holds the lock (it is doing the same).
 */
export async function rotate(store: SecretStore, policy: RotationPolicy, deps: RotateDeps): Promise<RotationOutcome | undefined> {
  const token = randomBytes(12).toString('base64url');
  if (!(await store.lock(token, deps.lockTtlMs))) return undefined;
  try {
    const contents = await store.read();
    const nowMs = deps.nowMs();
    const removing = retired(contents.ours, nowMs, policy);
    if (removing.length > 0 || contents.staleIds.length > 0) await store.remove(removing, contents.staleIds);
    const remaining = contents.ours.filter((secret) => !removing.includes(secret));
    if (!due(remaining, nowMs, policy.intervalMs)) return { removed: removing.length };
    const value = (deps.newSecret ?? generateSecret)();
    const secret = { id: secretId(value), value, createdMs: nowMs };
    const added = await store.addUnlessRecent(secret, policy.intervalMs);
    return { ...(added && { created: secret }), removed: removing.length };
  } finally {
    // An unlock that fails leaves the lock to expire: the next rotation waits that long at most.
    await store.unlock(token).catch(() => undefined);
  }
}
