// One provider credential per user, handed out again until half of its lifetime is gone
// (Cloudflare asks that callers use more than 50 % of each credential they issue:
// https://developers.cloudflare.com/realtime/turn/faq/), then renewed. Each answer's ttl is
// the time the credential has left. Kept by a hash of the user id, as the token cache keeps
// tokens, at most `size` users, the least recently used dropped first. Concurrent requests
// for one user share one provider call (single flight); failures are not kept.
// A user whose credential is kept is answered at once, without a promise.

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../clock.js';
import type { TurnCredentials } from '../credentials.js';
import type { ProviderCredential } from './provider.js';

export interface IssuedCredential extends ProviderCredential {
  /** When it was asked for: its lifetime counts from there. */
  readonly issuedAtMs: number;
}

export interface ProviderCredentialCacheOptions {
  /** Users kept at most. */
  readonly size: number;
  readonly clock: Clock;
  /** Counted per look-up: kept, asked for, or joined onto a call in flight. */
  readonly counts: { readonly hit: Count; readonly miss: Count; readonly coalesced: Count };
}

/** A counter bound to its labels. */
interface Count {
  inc(): void;
}

export interface ProviderCredentialCache {
  /** The user's credential: the kept one at once, or a new one from `issue`. */
  credentialFor(userId: string): TurnCredentials | Promise<TurnCredentials>;
}

interface Entry {
  readonly username: string;
  readonly password: string;
  readonly uris: readonly string[];
  readonly expiresAtMs: number;
}

export function providerCredentialCache(
  issue: (userId: string) => Promise<IssuedCredential>,
  options: ProviderCredentialCacheOptions,
): ProviderCredentialCache {
  const { clock, counts } = options;
  // ttlResolution 0: lru-cache would otherwise reuse one reading of the clock for 1 ms of
  // real time, and miss an injected clock's jump past an entry's renewal.
  const entries = new LRUCache<string, Entry>({
    max: options.size,
    ttlAutopurge: false,
    ttlResolution: 0,
    perf: { now: () => clock.nowMs() },
  });
  const inFlight = new Map<string, Promise<TurnCredentials>>();

  const answer = (entry: Entry): TurnCredentials => ({
    username: entry.username,
    password: entry.password,
    uris: entry.uris,
    ttl: Math.max(0, Math.floor((entry.expiresAtMs - clock.nowMs()) / 1000)),
  });

  const renew = (key: string, userId: string): Promise<TurnCredentials> =>
    issue(userId).then(
      (issued) => {
        inFlight.delete(key);
        const { username, password, uris } = issued;
        const lifetimeMs = issued.lifetimeSeconds * 1000;
        const entry: Entry = { username, password, uris, expiresAtMs: issued.issuedAtMs + lifetimeMs };
        // Served while less than half its lifetime has gone (lru-cache serves until an entry's age exceeds its ttl).
        const keepMs = Math.floor(issued.issuedAtMs + lifetimeMs / 2 - clock.nowMs());
        if (keepMs >= 1) entries.set(key, entry, { ttl: keepMs });
        return answer(entry);
      },
      (error: unknown) => {
        inFlight.delete(key);
        throw error;
      },
    );

  return {
    credentialFor(userId) {
      const key = createHash('sha256').update(userId).digest('base64');
      const entry = entries.get(key);
      if (entry !== undefined) {
        counts.hit.inc();
        return answer(entry);
      }
      const pending = inFlight.get(key);
      if (pending !== undefined) {
        counts.coalesced.inc();
        return pending;
      }
      counts.miss.inc();
      const renewal = renew(key, userId);
      inFlight.set(key, renewal);
      return renewal;
    },
  };
}
