// The TURN servers as a whole: each server's own minter (credentials.ts, index.ts), or for
// a provider entry its API behind a per-user cache (providers/), the health checks that
// probe every URI of the others with a credential minted as a client's is, and the minter
// the route calls, which picks a server from the checks' picture (selection.ts).

import type { Timers } from '../clock.js';
import type { ComponentStatus } from '../health.js';
import { createTurnHealthChecks, type TurnHealthDeps, type TurnHealthOptions, type TurnHealthSnapshot } from './health-checks.js';
import { createMinter, type MinterDeps, type MinterOptions } from './index.js';
import type { MaybeAsyncMinter } from './credentials.js';
import { createProviderServer, type ProviderOptions, type ProviderServer } from './providers/index.js';
import { selectingMinter, type TurnServerSelection } from './selection.js';

export interface TurnServerOptions extends MinterOptions {
  /** Unique; names the server in logs, metrics and /readyz. */
  readonly name: string;
  /** A managed TURN service that issues the credentials and names the URIs (`uris` is then empty). */
  readonly provider?: ProviderOptions;
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
  readonly minter: MaybeAsyncMinter;
  snapshot(this: void): TurnHealthSnapshot;
  status(this: void): ComponentStatus;
  /** The /readyz component of the server with managed secrets, if one has them. */
  readonly secretsStatus?: () => ComponentStatus;
  /**
   * Starts the health checks (none when their interval is 0), once every server can mint:
   * a server with managed secrets has read its first one (until then a probe would only
   * fail for want of a credential).
   */
  start(this: void): void;
  close(): Promise<void>;
}

export function createTurnServers(options: TurnServersOptions, deps: TurnServersDeps): TurnServers {
  const providers = new Map<string, ProviderServer>();
  for (const server of options.servers)
    if (server.provider !== undefined)
      providers.set(
        server.name,
        createProviderServer({ name: server.name, ttlSeconds: server.ttlSeconds, provider: server.provider }, deps),
      );
  const built = options.servers
    .filter((server) => !providers.has(server.name))
    .map((server) => ({ ...server, ...createMinter(server, deps) }));
  // In the order configured; a provider entry is not in the checks' picture (its API answering is its health).
  const selectable = options.servers.map((server) => {
    const provider = providers.get(server.name);
    return provider
      ? { name: server.name, uris: server.uris, minter: provider.minter, unchecked: true }
      : built.find((b) => b.name === server.name)!;
  });
  const checks = createTurnHealthChecks(
    built.map((server) => ({
      name: server.name,
      uris: server.uris,
      probeCredential(uriIndex) {
        if (server.credentials === undefined && server.managedSecrets === undefined) return undefined;
        const { username, password } = server.minter.mint(probeUser(options.probeUserId, uriIndex));
        return { username, password };
      },
    })),
    built.length > 0 ? options.healthCheck : { ...options.healthCheck, intervalMs: 0 },
    { probe: deps.probe, clock: deps.clock, timers: deps.timers, logger: deps.logger, metrics: deps.metrics },
  );
  const minter =
    built.length === 1 && options.healthCheck.intervalMs <= 0 && providers.size === 0
      ? built[0]!.minter
      : selectingMinter(selectable, options.selection, checks.snapshot);
  const managed = built.flatMap((server) => (server.managed === undefined ? [] : [server.managed]));
  return {
    minter,
    snapshot: checks.snapshot,
    status:
      providers.size === 0 ? checks.status : () => withProviders(options.servers, providers, checks, options.healthCheck.intervalMs > 0),
    ...(managed[0] !== undefined && { secretsStatus: managed[0].status }),
    start: managed.length === 0 ? checks.start : () => void Promise.all(managed.map((server) => server.ready)).then(() => checks.start()),
    async close() {
      await checks.close();
      for (const server of built) server.close();
      await Promise.all([...providers.values()].map((provider) => provider.close()));
    },
  };
}

/**
 * The /readyz component with the provider entries among the checked servers, in the order
 * configured: degraded when no server is up (a provider counts as up unless its last call failed).
 */
function withProviders(
  servers: readonly TurnServerOptions[],
  providers: ReadonlyMap<string, ProviderServer>,
  checks: { status(): ComponentStatus; snapshot(): TurnHealthSnapshot },
  checking: boolean,
): ComponentStatus {
  const checkedReport = (checks.status().servers ?? []) as readonly unknown[];
  const snapshot = checks.snapshot();
  let place = 0;
  let up = 0;
  const listed = servers.map((server) => {
    const provider = providers.get(server.name);
    if (provider !== undefined) {
      if (provider.state().state !== 'down') up += 1;
      return provider.status();
    }
    const usable = snapshot.servers[place]?.usableUris.length ?? 0;
    if (!checking || usable > 0) up += 1;
    return checkedReport[place++];
  });
  const detail =
    up === 0
      ? 'every TURN server is down: each is tried in turn, and a request gets 503 when none answers'
      : `${up} of ${servers.length} TURN servers up${checking ? '' : ' (health checks off: every URI of our own servers counts as up)'}`;
  return { ready: true, degraded: up === 0, detail, servers: listed };
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
