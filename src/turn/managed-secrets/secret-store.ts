// coturn's set of REST API secrets in its Redis user database, and this service's marks on
// it. coturn (use-auth-secret with redis-userdb) reads the members of the set
// `turn/realm/<realm>/secret` with SMEMBERS at every authentication and accepts a
// credential signed with any of them. Other consumers (an operator's own secret, LiveKit's
// turn_servers[].secret) may keep members there too, so which members are ours is written
// beside the set, never guessed: the hash `turn/realm/<realm>/matrix-turn-credentials`
// holds, for each member this service added, its id (a digest of the value, which it does
// not reveal) and its creation time. A member without a mark is never removed or changed.
//
// A member and its mark are written together (one script) and removed together (one
// MULTI), so no reader sees one without the other. The lock beside them lets one replica at
// a time change the set (rotation.ts). Every call is bounded by `timeoutMs`; a failure
// rejects, and the caller keeps what it knew.

import { createHash } from 'node:crypto';
import type { Timers } from '../../clock.js';
import { withTimeout, type RedisClient } from '../../redis/client.js';

/** One secret this service added to the set. */
export interface ManagedSecret {
  /** What names it in the marks (and anywhere else): a digest of its value. */
  readonly id: string;
  /** The secret itself: in the set and in memory, never in a log line, a metric or /readyz. */
  readonly value: string;
  /** When it was added, milliseconds since the Unix epoch. */
  readonly createdMs: number;
}

/** What the set holds, as this service sees it. */
export interface SetContents {
  /** The members this service added, oldest first. */
  readonly ours: readonly ManagedSecret[];
  /** How many members this service did not add (counted, never touched). */
  readonly others: number;
  /** Marks whose member has left the set (removed by hand): dropped at the next rotation. */
  readonly staleIds: readonly string[];
}

export interface SecretStore {
  read(): Promise<SetContents>;
  /**
   * Adds `secret` and its mark, unless one of our marks is younger than `intervalMs` at
   * `secret.createdMs`: one atomic script, so however many replicas try, no interval gets
   * two new secrets. Resolves whether it added.
   */
  addUnlessRecent(secret: ManagedSecret, intervalMs: number): Promise<boolean>;
  /** Removes these members of ours with their marks, and the marks named by `staleIds`. */
  remove(secrets: readonly ManagedSecret[], staleIds: readonly string[]): Promise<void>;
  /** Takes the rotation lock for `ttlMs` under `token`; false when another holds it. */
  lock(token: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock if `token` still holds it (an expired lock someone else took stays theirs). */
  unlock(token: string): Promise<void>;
}

export interface CoturnKeys {
  /** The set coturn reads. */
  readonly set: string;
  /** Our marks: id → creation time in milliseconds. */
  readonly marks: string;
  readonly lock: string;
}

export function coturnKeys(realm: string): CoturnKeys {
  const realmKey = `turn/realm/${realm}`;
  return { set: `${realmKey}/secret`, marks: `${realmKey}/matrix-turn-credentials`, lock: `${realmKey}/matrix-turn-credentials/lock` };
}

/** 64 bits of SHA-256: unique among a handful of members, and says nothing of a 256-bit secret. */
export function secretId(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}

/**
 * KEYS: the set, the marks. ARGV: id, value, creation time (ms), interval (ms).
 * Adds nothing while the youngest mark is less than an interval old.
 */
const ADD_UNLESS_RECENT = `
local created = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])
for _, mark in ipairs(redis.call('HVALS', KEYS[2])) do
  local at = tonumber(mark)
  if at ~= nil and created - at < interval then return 0 end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[1], ARGV[2])
return 1
`;

/** KEYS: the lock. ARGV: the token that took it. */
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface RedisSecretStoreOptions {
  readonly realm: string;
  /** Longest wait for one call, in milliseconds. */
  readonly timeoutMs: number;
  readonly timers: Timers;
}

export function redisSecretStore(client: RedisClient, options: RedisSecretStoreOptions): SecretStore {
  const keys = coturnKeys(options.realm);
  const bounded = <T>(promise: Promise<T>, what: string) => withTimeout(promise, options.timeoutMs, what, options.timers);
  return {
    async read() {
      const results = await bounded(client.multi().smembers(keys.set).hgetall(keys.marks).exec(), 'reading the secret set');
      if (results === null) throw new Error('reading the secret set: the transaction was aborted');
      const [members, marks] = results.map(([error, value]) => {
        if (error) throw error;
        return value;
      }) as [string[], Record<string, string>];
      return contentsOf(members, marks);
    },
    async addUnlessRecent(secret, intervalMs) {
      const added = await bounded(
        client.eval(ADD_UNLESS_RECENT, 2, keys.set, keys.marks, secret.id, secret.value, String(secret.createdMs), String(intervalMs)),
        'adding a secret',
      );
      return added === 1;
    },
    async remove(secrets, staleIds) {
      const ids = [...secrets.map((secret) => secret.id), ...staleIds];
      if (ids.length === 0) return;
      const transaction = client.multi();
      if (secrets.length > 0) transaction.srem(keys.set, ...secrets.map((secret) => secret.value));
      transaction.hdel(keys.marks, ...ids);
      const results = await bounded(transaction.exec(), 'removing secrets');
      const failed = results?.find(([error]) => error)?.[0];
      if (results === null || failed) throw failed ?? new Error('removing secrets: the transaction was aborted');
    },
    async lock(token, ttlMs) {
      return (await bounded(client.set(keys.lock, token, 'PX', ttlMs, 'NX'), 'taking the rotation lock')) === 'OK';
    },
    async unlock(token) {
      await bounded(client.eval(UNLOCK, 1, keys.lock, token), 'releasing the rotation lock');
    },
  };
}

/** Our members (marked and present), oldest first; the others counted; marks left without a member. */
export function contentsOf(members: readonly string[], marks: Readonly<Record<string, string>>): SetContents {
  const present = new Map(members.map((value) => [secretId(value), value]));
  const ours: ManagedSecret[] = [];
  const staleIds: string[] = [];
  for (const [id, created] of Object.entries(marks)) {
    const value = present.get(id);
    const createdMs = Number(created);
    if (value === undefined || !Number.isFinite(createdMs)) staleIds.push(id);
    else ours.push({ id, value, createdMs });
  }
  ours.sort((a, b) => a.createdMs - b.createdMs || (a.id < b.id ? -1 : 1));
  return { ours, others: members.length - ours.length, staleIds };
}
