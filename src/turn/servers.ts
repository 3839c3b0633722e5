// The TURN servers as a whole: each server's own minter (credentials.ts, index.ts), the
// health checks that probe every URI with a credential minted as a client's is, and the
// minter the route calls, which picks a server from the checks' picture (selection.ts).

import type { Timers } from '../clock.js';
import type { ComponentStatus } from '../health.js';
import { createTurnHealthChecks, type TurnHealthDeps, type TurnHealthOptions, type TurnHealthSnapshot } from './health-checks.js';
import { createMinter, type MinterDeps, type MinterOptions } from './index.js';
import type { CredentialMinter } from './credentials.js';
import { selectingMinter } from './selection.js';

export type TurnServerSelection = 'first' | 'spread';

export interface TurnServerOptions extends MinterOptions {
  /** Unique; names the server in logs, metrics and /readyz. */
  readonly name: string;
}

export interface TurnServersOptions {
  /** In the order they are tried. */
  readonly servers: readonly TurnServerOptions[];
  readonly selection: TurnServerSelection;
  readonly healthCheck: TurnHealthOptions;
  /** The user a health check's credential is minted for, e.g. @turn-health-check:example.org. */
  readonly probeUserId: string;
}

export interface TurnServersDeps extends MinterDeps, Pick<TurnHealthDeps, 'probe'> {
  readonly timers: Timers;
}

export interface TurnServers {
  /** What the route calls: the chosen server's credential, naming its URIs that are up. */
  readonly minter: CredentialMinter;
  snapshot(this: void): TurnHealthSnapshot;
  status(this: void): ComponentStatus;
  /** Starts the health checks (none when their interval is 0). */
  start(this: void): void;
  close(): Promise<void>;
}

export function createTurnServers(options: TurnServersOptions, deps: TurnServersDeps): TurnServers {
  const built = options.servers.map((server) => ({ ...server, ...createMinter(server, deps) }));
  const checks = createTurnHealthChecks(
    built.map((server) => ({
      name: server.name,
      uris: server.uris,
      probeCredential(uriIndex) {
        if (server.credentials === undefined) return undefined;
        const { username, password } = server.minter.mint(probeUser(options.probeUserId, uriIndex));
        return { username, password };
      },
    })),
    options.healthCheck,
    { probe: deps.probe, clock: deps.clock, timers: deps.timers, logger: deps.logger, metrics: deps.metrics },
  );
  const minter =
    built.length === 1 && options.healthCheck.intervalMs <= 0
      ? built[0]!.minter
      : selectingMinter(built, options.selection, checks.snapshot);
  return {
    minter,
    snapshot: checks.snapshot,
    status: checks.status,
    start: checks.start,
    async close() {
      await checks.close();
      for (const server of built) server.close();
    },
  };
}

/**
 * The probe user of a server's URI: one user per URI, because coturn's user-quota counts
 * allocations by the user part of a REST username and releases a UDP allocation about a
 * second after its Refresh to 0, so the URIs of one server checked at once as one user
 * could be refused with 486 by a tight quota.
 */
export function probeUser(probeUserId: string, uriIndex: number): string {
  return uriIndex === 0 ? probeUserId : probeUserId.replace(/^@([^:]*)/, `@$1-${uriIndex + 1}`);
}
