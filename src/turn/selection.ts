// Which server answers a user, from the health checks' current picture. A Matrix answer
// carries one username and password, so it is made from one server: the first usable one
// in the order configured ('first'), or one chosen among the usable ones by the user id
// ('spread', rendezvous hashing: a user keeps their server while it stays up, and only the
// users of a server that goes down move). The answer names only that server's URIs that
// are up. When every server is down the checks are more likely broken than every server,
// so the answer is made as if all were up.

import type { CredentialMinter, TurnCredentials } from './credentials.js';
import type { TurnHealthSnapshot } from './health-checks.js';
import type { TurnServerSelection } from './servers.js';

export interface SelectableServer {
  readonly name: string;
  readonly uris: readonly string[];
  readonly minter: CredentialMinter;
}

/** What one picture of health allows, worked out once per picture rather than per request. */
interface Plan {
  readonly snapshot: TurnHealthSnapshot;
  /** Indices of the servers that may answer. */
  readonly candidates: readonly number[];
  /** By server index: the URIs to name, the configured array itself when all of them are usable. */
  readonly uris: readonly (readonly string[])[];
}

export function selectingMinter(
  servers: readonly SelectableServer[],
  selection: TurnServerSelection,
  snapshot: () => TurnHealthSnapshot,
): CredentialMinter {
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

  return {
    mint(userId: string): TurnCredentials {
      const current = snapshot();
      if (current !== plan.snapshot) plan = planFor(servers, current);
      const index = pick(userId, plan.candidates);
      const credentials = servers[index]!.minter.mint(userId);
      const uris = plan.uris[index]!;
      return uris === credentials.uris ? credentials : { ...credentials, uris };
    },
  };
}

function planFor(servers: readonly SelectableServer[], snapshot: TurnHealthSnapshot): Plan {
  const everything = { snapshot, candidates: servers.map((_, index) => index), uris: servers.map((server) => server.uris) };
  if (snapshot.allDown) return everything;
  const candidates: number[] = [];
  const uris = servers.map((server, index) => {
    const usable = snapshot.servers[index]?.usableUris ?? server.uris;
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
