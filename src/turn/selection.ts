// Which server answers a user, from the health checks' current picture. A Matrix answer
// carries one username and password, so it is made from one server: the first usable one
// in the order configured ('first'), or one chosen among the usable ones by the user id
// ('spread', rendezvous hashing: a user keeps their server while it stays up, and only the
// users of a server that goes down move). The answer names only that server's URIs that
// are up. When every server is down the checks are more likely broken than every server,
// so the answer is made as if all were up.
// A provider entry (providers/) has no URIs of its own to check: it is always a candidate,
// and its answer names the URIs the provider gave. When it fails (its API down, slow,
// refusing our key, answering nonsense) the next candidate answers, in the same order a
// user's server is chosen in; when none is left, 503 with Retry-After. A failing provider
// is simply tried again by the next request: its Upstream's circuit breaker already fails
// fast (no wait for a timeout) while it keeps failing, and a refused key fixed in its file
// is in use with the next request, without waiting out a period of our own.

import { MatrixError } from '../errors.js';
import type { CredentialMinter, MaybeAsyncMinter, TurnCredentials } from './credentials.js';
import type { TurnHealthSnapshot } from './health-checks.js';
import { ProviderFailure } from './providers/provider.js';

/** first: the first usable server in the order configured; spread: one per user, by rendezvous hashing of the user id. */
export type TurnServerSelection = 'first' | 'spread';

export interface SelectableServer<Minter extends MaybeAsyncMinter = CredentialMinter> {
  readonly name: string;
  /** Empty for a provider entry. */
  readonly uris: readonly string[];
  readonly minter: Minter;
  /** A provider entry: not in the health checks' picture, whose servers are the other entries in order. */
  readonly unchecked?: boolean;
}

/** When no server answered and none said when to try again. */
const RETRY_AFTER_SECONDS = 5;

/** What one picture of health allows, worked out once per picture rather than per request. */
interface Plan {
  readonly snapshot: TurnHealthSnapshot;
  /** Indices of the servers that may answer. */
  readonly candidates: readonly number[];
  /**
   * By server index: the URIs to name, the configured array itself when all of them are
   * usable; undefined for a provider entry, whose credential names its own.
   */
  readonly uris: readonly (readonly string[] | undefined)[];
}

/** Servers that all answer at once make a minter that does. */
export function selectingMinter(
  servers: readonly SelectableServer[],
  selection: TurnServerSelection,
  snapshot: () => TurnHealthSnapshot,
): CredentialMinter;
export function selectingMinter(
  servers: readonly SelectableServer<MaybeAsyncMinter>[],
  selection: TurnServerSelection,
  snapshot: () => TurnHealthSnapshot,
): MaybeAsyncMinter;
export function selectingMinter(
  servers: readonly SelectableServer<MaybeAsyncMinter>[],
  selection: TurnServerSelection,
  snapshot: () => TurnHealthSnapshot,
): MaybeAsyncMinter {
  const seeds = servers.map((server) => fnv1a(`${server.name}\n`));
  let plan = planFor(servers, snapshot());

  function pick(userId: string, candidates: readonly number[]): number {
    if (selection === 'first' || candidates.length === 1) return candidates[0]!;
    let best = candidates[0]!;
    let bestWeight = -1;
    for (const index of candidates) {
      const weight = mix(fnv1a(userId, seeds[index]));
      if (weight > bestWeight) [best, bestWeight] = [index, weight];
    }
    return best;
  }

  /** The candidates in the order they are tried for this user: the one pick() chooses first. */
  function order(userId: string, candidates: readonly number[]): readonly number[] {
    if (selection === 'first') return candidates;
    const weights = new Map(candidates.map((index) => [index, mix(fnv1a(userId, seeds[index]))]));
    return [...candidates].sort((a, b) => weights.get(b)! - weights.get(a)!);
  }

  /** The chosen server failed: the others in turn, then 503. Off the common path: only a provider's promise rejects. */
  async function fallThrough(userId: string, chosen: Plan, failed: number, error: unknown): Promise<TurnCredentials> {
    const failures = [{ server: servers[failed]!.name, error }];
    for (const index of order(userId, chosen.candidates)) {
      if (index === failed) continue;
      try {
        return withUris(chosen.uris[index], await servers[index]!.minter.mint(userId));
      } catch (next) {
        failures.push({ server: servers[index]!.name, error: next });
      }
    }
    throw noServerAnswered(failures);
  }

  return {
    mint(userId: string) {
      const current = snapshot();
      if (current !== plan.snapshot) plan = planFor(servers, current);
      const chosen = plan;
      const index = pick(userId, chosen.candidates);
      const minted = servers[index]!.minter.mint(userId);
      if (minted instanceof Promise)
        return minted.then(
          (credentials) => withUris(chosen.uris[index], credentials),
          (error: unknown) => fallThrough(userId, chosen, index, error),
        );
      return withUris(chosen.uris[index], minted);
    },
  };
}

function withUris(uris: readonly string[] | undefined, credentials: TurnCredentials): TurnCredentials {
  return uris === undefined || uris === credentials.uris ? credentials : { ...credentials, uris };
}

/**
 * 503 M_UNKNOWN: no server could answer (every provider failing, and nothing after them).
 * Reported: each provider's failure was logged when its state changed.
 */
function noServerAnswered(failures: readonly { server: string; error: unknown }[]): MatrixError {
  const hints = failures.map(({ error }) => (error instanceof ProviderFailure ? error.retryAfterSeconds : undefined));
  const known = hints.filter((seconds): seconds is number => seconds !== undefined);
  const retryAfter = known.length > 0 ? Math.max(1, Math.min(...known)) : RETRY_AFTER_SECONDS;
  const why = failures.map(({ server, error }) => `${server}: ${error instanceof Error ? error.message : String(error)}`).join('; ');
  return new MatrixError(503, 'M_UNKNOWN', 'No TURN server can issue credentials right now', {
    headers: { 'Retry-After': String(retryAfter) },
    detail: `no TURN server answered (${why})`,
    reported: true,
  });
}

function planFor(servers: readonly SelectableServer<MaybeAsyncMinter>[], snapshot: TurnHealthSnapshot): Plan {
  // A checked server's place in the picture: the checks know only the entries that are not providers.
  let checked = 0;
  const places = servers.map((server) => (server.unchecked === true ? undefined : checked++));
  const configured = servers.map((server, index) => (places[index] === undefined ? undefined : server.uris));
  if (snapshot.allDown) return { snapshot, candidates: servers.map((_, index) => index), uris: configured };
  const candidates: number[] = [];
  const uris = servers.map((server, index) => {
    const place = places[index];
    if (place === undefined) {
      candidates.push(index);
      return undefined;
    }
    const usable = snapshot.servers[place]?.usableUris ?? server.uris;
    if (usable.length > 0) candidates.push(index);
    return usable.length === server.uris.length ? server.uris : usable;
  });
  return { snapshot, candidates, uris };
}

/** FNV-1a, 32 bits, over the UTF-16 code units, continuing from `seed`. */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** MurmurHash3's finaliser: FNV's low bits alone would favour some servers for similar user ids. */
function mix(hash: number): number {
  let h = hash;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
