// TURN health checks: every interval, each configured URI is probed in the background
// (probe/probe-uri.ts: a STUN Binding for stun:, a TURN Allocate with a credential minted as
// clients get it, then a Refresh to 0, for turn:), a bounded number at a time. The request
// path never waits for a probe: it reads snapshot(), an immutable picture replaced only
// when a URI changes state, so selection.ts can keep what it derives from one picture.
// Before a URI's first check it counts as up: a service that has just started hands out
// what is configured, as it did before checks existed.

import type { Clock, TimerHandle, Timers } from '../clock.js';
import type { ComponentStatus } from '../health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ProbeCredential, ProbeFailureReason, ProbeOptions, ProbeResult } from './probe/probe-uri.js';

export const PROBE_FAILURE_REASONS: readonly ProbeFailureReason[] = ['timeout', 'refused', 'unauthorized', 'tls', 'dns', 'error'];

/** What is checked: a server's URIs, and the credential a probe of its turn: URIs authenticates with. */
export interface HealthCheckTarget {
  readonly name: string;
  readonly uris: readonly string[];
  /**
   * Minted afresh for each probe of the URI at `uriIndex`, exactly as for a client;
   * undefined for a server without a credential (stun: only).
   */
  probeCredential(uriIndex: number): ProbeCredential | undefined;
}

export interface TurnHealthOptions {
  /** Time between the starts of two rounds of checks; 0 turns checks off. */
  readonly intervalMs: number;
  /** One probe's whole time, every step of it. */
  readonly timeoutMs: number;
  /** Probes in flight at once, across every server. */
  readonly maxInFlight: number;
}

export interface TurnHealthDeps {
  readonly probe: (uri: string, options: ProbeOptions) => Promise<ProbeResult>;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'turnServerUp' | 'turnServerCheckDuration' | 'turnServerCheckFailures'>;
}

export type UriHealth =
  | { readonly uri: string; readonly state: 'unchecked' }
  | { readonly uri: string; readonly state: 'up'; readonly checkedAtMs: number }
  | {
      readonly uri: string;
      readonly state: 'down';
      readonly checkedAtMs: number;
      readonly reason: ProbeFailureReason;
      /** One line for an operator; never a password. */
      readonly detail: string;
    };

export interface ServerHealth {
  readonly name: string;
  readonly uris: readonly UriHealth[];
  /** The URIs an answer may hold now (up or not yet checked), in the order configured; empty when the server is down. */
  readonly usableUris: readonly string[];
}

export interface TurnHealthSnapshot {
  readonly servers: readonly ServerHealth[];
  /** Every server down: answers then hold everything configured, since a broken check must not break calls. */
  readonly allDown: boolean;
}

export interface TurnHealthChecks {
  /** The current picture; the same object until a URI changes state. */
  snapshot(this: void): TurnHealthSnapshot;
  /** Starts the rounds: one now, then one every interval. Does nothing when checks are off. */
  start(this: void): void;
  /** One round of checks now, resolved when each of its probes has ended. */
  checkNow(this: void): Promise<void>;
  /** The /readyz component: always ready; degraded when every server is down. */
  status(this: void): ComponentStatus;
  /**
   * Stops the rounds. Probes in flight are not waited for (each ends within its timeout,
   * closing its socket); what they find is dropped, so stopping never waits on a TURN server.
   */
  close(): Promise<void>;
}

export function createTurnHealthChecks(
  targets: readonly HealthCheckTarget[],
  options: TurnHealthOptions,
  deps: TurnHealthDeps,
): TurnHealthChecks {
  const { clock, timers, logger, metrics } = deps;
  const states = targets.map((target) => target.uris.map((uri): UriHealth => ({ uri, state: 'unchecked' })));
  let snapshot = buildSnapshot(targets, states);
  let interval: TimerHandle | undefined;
  let closed = false;

  if (options.intervalMs > 0)
    for (const target of targets)
      for (const reason of PROBE_FAILURE_REASONS) metrics.turnServerCheckFailures.labels(target.name, reason).inc(0);

  async function checkOne(serverIndex: number, uriIndex: number): Promise<void> {
    const target = targets[serverIndex]!;
    const uri = target.uris[uriIndex]!;
    const startedAtMs = clock.nowMs();
    const credential = /^turns?:/i.test(uri) ? target.probeCredential(uriIndex) : undefined;
    const result = await deps.probe(uri, { timeoutMs: options.timeoutMs, timers, ...(credential && { credential }) });
    if (closed) return;
    const checkedAtMs = clock.nowMs();
    metrics.turnServerCheckDuration.labels(target.name).observe((checkedAtMs - startedAtMs) / 1000);
    metrics.turnServerUp.labels(target.name, uri).set(result.ok ? 1 : 0);
    if (!result.ok) metrics.turnServerCheckFailures.labels(target.name, result.reason).inc();
    const before = states[serverIndex]![uriIndex]!;
    const after: UriHealth = result.ok
      ? { uri, state: 'up', checkedAtMs }
      : { uri, state: 'down', checkedAtMs, reason: result.reason, detail: result.detail };
    states[serverIndex]![uriIndex] = after;
    if (before.state !== after.state || (before.state === 'down' && after.state === 'down' && before.reason !== after.reason)) {
      logChange(target.name, before, after);
      snapshot = buildSnapshot(targets, states);
    }
  }

  function logChange(server: string, before: UriHealth, after: UriHealth): void {
    if (after.state === 'down') {
      const fields = { server, uri: after.uri, reason: after.reason, detail: after.detail };
      logger.warn(fields, `TURN URI ${after.uri} of server ${server} is down (${after.reason}): ${after.detail}`);
    } else if (before.state === 'down') logger.info({ server, uri: after.uri }, `TURN URI ${after.uri} of server ${server} is up again`);
    else logger.debug({ server, uri: after.uri }, `TURN URI ${after.uri} of server ${server} is up`);
  }

  // One queue and one bound for every round: a probe still queued or running from the round
  // before is not started twice, and a slow round never adds to the probes in flight.
  const scheduled = new Map<string, Promise<void>>();
  const queue: { readonly serverIndex: number; readonly uriIndex: number; readonly done: () => void }[] = [];
  let active = 0;

  function schedule(serverIndex: number, uriIndex: number): Promise<void> {
    const key = `${serverIndex} ${uriIndex}`;
    const already = scheduled.get(key);
    if (already !== undefined) return already;
    const ended = new Promise<void>((done) => queue.push({ serverIndex, uriIndex, done }));
    scheduled.set(key, ended);
    void ended.then(() => scheduled.delete(key));
    pump();
    return ended;
  }

  function pump(): void {
    while (active < options.maxInFlight && queue.length > 0 && !closed) {
      const job = queue.shift()!;
      active += 1;
      checkOne(job.serverIndex, job.uriIndex)
        // probeUri never rejects; a probe that did is a bug to see, not a URI to mark down.
        .catch((error: unknown) => logger.error({ err: error }, 'a TURN health check failed unexpectedly'))
        .finally(() => {
          active -= 1;
          job.done();
          pump();
        });
    }
  }

  function round(): Promise<void> {
    const ends = targets.flatMap((target, serverIndex) => target.uris.map((_, uriIndex) => schedule(serverIndex, uriIndex)));
    return Promise.all(ends).then(() => undefined);
  }

  return {
    snapshot: () => snapshot,
    start() {
      if (options.intervalMs <= 0 || interval !== undefined || closed) return;
      void round();
      interval = timers.setInterval(() => void round(), options.intervalMs);
    },
    checkNow: () => round(),
    status: () => componentStatus(snapshot, options.intervalMs > 0),
    async close() {
      closed = true;
      timers.clearInterval(interval);
      // Queued probes are never started; whoever awaits them is let go.
      for (const job of queue.splice(0)) job.done();
    },
  };
}

function buildSnapshot(targets: readonly HealthCheckTarget[], states: readonly (readonly UriHealth[])[]): TurnHealthSnapshot {
  const servers = targets.map((target, index): ServerHealth => ({
    name: target.name,
    uris: [...states[index]!],
    usableUris: states[index]!.filter((uri) => uri.state !== 'down').map((uri) => uri.uri),
  }));
  return Object.freeze({ servers, allDown: servers.every((server) => server.usableUris.length === 0) });
}

function componentStatus(snapshot: TurnHealthSnapshot, checking: boolean): ComponentStatus {
  const servers = snapshot.servers.map((server) => ({
    name: server.name,
    state: server.usableUris.length > 0 ? 'up' : 'down',
    uris: server.uris.map((uri) =>
      uri.state === 'down'
        ? { uri: uri.uri, state: uri.state, reason: uri.reason, detail: uri.detail, checkedAt: new Date(uri.checkedAtMs).toISOString() }
        : uri.state === 'up'
          ? { uri: uri.uri, state: uri.state, checkedAt: new Date(uri.checkedAtMs).toISOString() }
          : { uri: uri.uri, state: uri.state },
    ),
  }));
  const up = servers.filter((server) => server.state === 'up').length;
  const detail = !checking
    ? 'health checks off (TURN_HEALTH_CHECK_INTERVAL=0): every URI is handed out'
    : snapshot.allDown
      ? 'every TURN server is down: answers hold every configured URI, which may not work'
      : `${up} of ${servers.length} TURN servers up`;
  return { ready: true, degraded: checking && snapshot.allDown, detail, servers };
}
