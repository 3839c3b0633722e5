// The token cache: answers about a token kept by its hash (never the token) for
// ttlSeconds, never past the token's own expiry; refusals of the token (401/403) for the
// shorter negativeTtlSeconds; upstream failures not at all. Concurrent requests with the
// same token share one verification (single flight). The appservice method, whose answer
// is not the token's alone, has a cache of its own (appservice.ts).

import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.js';
import { MatrixError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Identity, RequestFacts, TokenCache, TokenVerifier } from './types.js';

export interface TokenCacheSettings {
  /** How long an identity is kept, in seconds (never past the token's expiry); 0: not at all. */
  readonly ttlSeconds: number;
  /** How long a refusal of the token is kept, in seconds; 0: not at all. */
  readonly negativeTtlSeconds: number;
  /** Entries kept at most. */
  readonly size: number;
}

export interface TokenCacheOptions extends TokenCacheSettings {
  clock: Clock;
  metrics: Metrics;
}

type Entry = { readonly identity: Identity } | { readonly refusal: MatrixError };

export function tokenCache(inner: TokenVerifier, options: TokenCacheOptions): TokenCache {
  const { clock, metrics } = options;
  const ttlMs = options.ttlSeconds * 1000;
  const negativeTtlMs = options.negativeTtlSeconds * 1000;
  // ttlResolution 0: lru-cache would otherwise reuse one reading of the clock for 1 ms of
  // real time, and miss an injected clock's jump past an entry's expiry.
  const entries = new LRUCache<string, Entry>({
    max: options.size,
    ttlAutopurge: false,
    ttlResolution: 0,
    perf: { now: () => clock.nowMs() },
  });
  const inFlight = new Map<string, Promise<Identity>>();
  const hit = metrics.tokenCacheRequests.tally('hit');
  const miss = metrics.tokenCacheRequests.tally('miss');
  const coalesced = metrics.tokenCacheRequests.tally('coalesced');

  const remember = (key: string, identity: Identity) => {
    // lru-cache serves an entry until its age exceeds the ttl, so the last millisecond it
    // serves is start + ttl: one before the token's expiry, at which it is no longer valid.
    const untilExpiry = identity.expiresAtMs === undefined ? ttlMs : identity.expiresAtMs - clock.nowMs() - 1;
    const ttl = Math.min(ttlMs, untilExpiry);
    if (ttl >= 1) entries.set(key, { identity }, { ttl });
  };
  const rememberRefusal = (key: string, error: unknown) => {
    if (error instanceof MatrixError && error.status < 500 && negativeTtlMs >= 1) {
      entries.set(key, { refusal: error }, { ttl: negativeTtlMs });
    }
  };

  return {
    peek(key: string): Identity | undefined {
      const entry = entries.get(key);
      if (entry === undefined || !('identity' in entry)) return undefined;
      hit.inc();
      return entry.identity;
    },
    async verify(token: string, key: string, facts: RequestFacts): Promise<Identity> {
      const entry = entries.get(key);
      if (entry !== undefined) {
        hit.inc();
        if ('identity' in entry) return entry.identity;
        throw entry.refusal;
      }
      const pending = inFlight.get(key);
      if (pending !== undefined) {
        coalesced.inc();
        return pending;
      }
      miss.inc();
      const verification = inner.verify(token, facts).then(
        (identity) => {
          inFlight.delete(key);
          remember(key, identity);
          return identity;
        },
        (error: unknown) => {
          inFlight.delete(key);
          rememberRefusal(key, error);
          throw error;
        },
      );
      inFlight.set(key, verification);
      return verification;
    },
    close: async () => inner.close?.(),
  };
}
