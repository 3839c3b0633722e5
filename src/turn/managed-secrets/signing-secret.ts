// The secret a replica signs with when the service manages coturn's secrets: the newest of
// ours in coturn's set, as last read. Every replica reads the set every refresh interval
// (at most 2 s, on the injected timers), so each signs with a new secret within seconds of
// its creation, and the same read tells whether a rotation is due (rotation.ts), which
// then one replica does.
//
// While coturn's Redis cannot be read the replica keeps signing with the newest secret it
// knows (coturn has it too, and keeps it: nothing removes a secret while nobody can reach
// the set), rotates nothing, says so in /readyz (degraded) and logs it once; the first
// read that succeeds catches up. Until a first secret is known it signs with the static
// secrets if it has any (TURN_SHARED_SECRET, coturn's static-auth-secret), and otherwise
// cannot sign: not ready.
//
// The request path only reads `current()`, a string kept ready; the secret itself never
// reaches a log line, a metric or /readyz (its id, a digest, does not either).

import type { Clock, Timers } from '../../clock.js';
import type { ComponentStatus } from '../../health.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { describeRedisError } from '../../redis/client.js';
import type { LiveSecret } from '../../secret-file.js';
import { maxManagedSecrets, needsRotation, rotate, type RotationPolicy } from './rotation.js';
import { coturnKeys, type ManagedSecret, type SecretStore, type SetContents } from './secret-store.js';

export interface ManagedSecretsOptions {
  /** The TURN server whose secrets these are, in logs, metrics and /readyz. */
  readonly server: string;
  /** coturn's realm: its set is turn/realm/<realm>/secret. */
  readonly realm: string;
  /** Time between two new secrets, in milliseconds. */
  readonly rotationIntervalMs: number;
  /** Added to the credentials' lifetime before a secret is removed, for clocks that disagree, in milliseconds. */
  readonly marginMs: number;
  /** Longest wait for one Redis command, in milliseconds. */
  readonly commandTimeoutMs: number;
}

export interface SigningSecretOptions extends ManagedSecretsOptions {
  /** The lifetime of the credentials signed, in seconds. */
  readonly ttlSeconds: number;
}

export interface SigningSecretDeps {
  readonly store: SecretStore;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'secretRotations' | 'signingSecretAge' | 'secretRotationInterval' | 'managedSecrets'>;
  /** The static secrets (comma-separated, the first signs), used until a managed secret is known. */
  readonly fallback?: Pick<LiveSecret, 'current'>;
  /** Test seam: what a new secret's value is; default 256 random bits. */
  readonly newSecret?: () => string;
}

export interface SigningSecret {
  /** The secret to sign with (the minter reads the first of a comma-separated list); empty while none is known. */
  current(this: void): string;
  /** Whether current() holds a secret. */
  canSign(this: void): boolean;
  /** Resolves once a secret is known (at once with static secrets). */
  readonly ready: Promise<void>;
  /** Reads the set now, and rotates if due; the read already under way, if one is. */
  refresh(this: void): Promise<void>;
  /** The /readyz component: not ready without a secret, degraded while the set cannot be read or changed. */
  status(this: void): ComponentStatus;
  close(this: void): void;
}

/** How often every replica reads the set: a quarter of the interval, between 250 ms and 2 s. */
export function refreshIntervalMs(rotationIntervalMs: number): number {
  return Math.min(2000, Math.max(250, Math.floor(rotationIntervalMs / 4)));
}

export function createSigningSecret(options: SigningSecretOptions, deps: SigningSecretDeps): SigningSecret {
  const { server, realm } = options;
  const { store, clock, logger, metrics } = deps;
  const setKey = coturnKeys(realm).set;
  const refreshMs = refreshIntervalMs(options.rotationIntervalMs);
  // A read ends within a quarter of the refresh interval (the store's timeout, index.ts),
  // so every replica has read a new secret within two refresh intervals of its creation.
  const switchMs = 2 * refreshMs;
  const policy: RotationPolicy = {
    intervalMs: options.rotationIntervalMs,
    retireAfterMs: switchMs + options.ttlSeconds * 1000 + options.marginMs,
  };
  // A rotation is at most six calls, each bounded by the store's timeout.
  const lockTtlMs = Math.max(5000, 10 * options.commandTimeoutMs);
  const bound = maxManagedSecrets(options.ttlSeconds, options.marginMs / 1000, options.rotationIntervalMs / 1000);
  const rotations = metrics.secretRotations.labels(server);
  metrics.secretRotationInterval.labels(server).set(options.rotationIntervalMs / 1000);
  rotations.inc(0);

  let signing: ManagedSecret | undefined;
  let current = '';
  let ours = 0;
  let reach: 'unread' | 'up' | 'down' = 'unread';
  let downSinceMs = 0;
  let rotationFailure: string | undefined;
  let inFlight: Promise<void> | undefined;
  let closed = false;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  if (deps.fallback !== undefined) markReady();

  const fields = { server, realm };

  function adopt(contents: SetContents): void {
    ours = contents.ours.length;
    metrics.managedSecrets.labels(server).set(ours);
    const newest = contents.ours.at(-1);
    // None of ours in the set (Redis lost its data, or all were removed by hand): keep the
    // newest known until the rotation this read makes due has added one.
    if (newest === undefined || newest.id === signing?.id) return;
    const first = signing === undefined;
    signing = newest;
    current = newest.value;
    markReady();
    if (first) logger.info({ ...fields, secrets: ours }, `signing TURN credentials of ${server} with the newest managed secret`);
    else logger.debug({ ...fields, secrets: ours }, `signing TURN credentials of ${server} with a newer managed secret`);
  }

  function unreachable(error: unknown): void {
    if (reach !== 'down') {
      downSinceMs = clock.nowMs();
      const doing =
        signing !== undefined
          ? 'signing with the newest secret known and rotating nothing until it answers'
          : deps.fallback !== undefined
            ? 'signing with the static secret until a managed one is known'
            : 'no managed secret known yet, so no credentials for this server';
      logger.warn({ ...fields, detail: describeRedisError(error) }, `cannot read coturn's Redis (COTURN_REDIS_URL): ${doing}`);
    }
    reach = 'down';
  }

  function reachable(): void {
    if (reach === 'down') logger.info(fields, "coturn's Redis answers again: following its secret set, rotating again");
    reach = 'up';
  }

  function rotationFailed(error: unknown): void {
    const detail = describeRedisError(error);
    if (detail !== rotationFailure) logger.warn({ ...fields, detail }, `could not rotate the TURN secrets of ${server} in coturn's Redis`);
    rotationFailure = detail;
  }

  async function tick(): Promise<void> {
    let contents: SetContents;
    try {
      contents = await store.read();
    } catch (error) {
      if (!closed) unreachable(error);
      return;
    }
    if (closed) return;
    reachable();
    adopt(contents);
    if (!needsRotation(contents, clock.nowMs(), policy)) return;
    try {
      const outcome = await rotate(store, policy, {
        nowMs: () => clock.nowMs(),
        lockTtlMs,
        ...(deps.newSecret && { newSecret: deps.newSecret }),
      });
      if (closed || outcome === undefined) return;
      rotationFailure = undefined;
      if (outcome.created === undefined && outcome.removed === 0) return;
      if (outcome.created !== undefined) rotations.inc();
      adopt(await store.read());
      const what = [outcome.created && 'added a new secret', outcome.removed > 0 && `removed ${outcome.removed} expired`].filter(Boolean);
      logger.info(
        { ...fields, secrets: ours, removed: outcome.removed },
        `rotated the TURN secrets of ${server} in ${setKey}: ${what.join(', ')}; ${ours} of ours now (at most ${bound})`,
      );
    } catch (error) {
      if (!closed) rotationFailed(error);
    }
  }

  const refresh = (): Promise<void> =>
    (inFlight ??= tick().finally(() => {
      inFlight = undefined;
      if (signing !== undefined && !closed) metrics.signingSecretAge.labels(server).set((clock.nowMs() - signing.createdMs) / 1000);
    }));

  const timer = deps.timers.setInterval(() => void refresh(), refreshMs);

  return {
    current: () => current || (deps.fallback?.current() ?? ''),
    canSign: () => signing !== undefined || deps.fallback !== undefined,
    ready,
    refresh,
    status() {
      const described = {
        server,
        realm,
        secrets: ours,
        maxSecrets: bound,
        ...(signing !== undefined && { signingSecretAgeSeconds: Math.floor((clock.nowMs() - signing.createdMs) / 1000) }),
      };
      if (signing === undefined && deps.fallback === undefined)
        return { ready: false, degraded: true, detail: `no managed secret known yet: ${setKey} has not been read`, ...described };
      if (reach === 'down') {
        const since = new Date(downSinceMs).toISOString();
        return {
          ready: true,
          degraded: true,
          detail: `coturn's Redis unreachable since ${since}: signing with the newest secret known`,
          ...described,
        };
      }
      if (signing === undefined)
        return { ready: true, degraded: true, detail: `${setKey} not read yet: signing with the static secret`, ...described };
      if (rotationFailure !== undefined)
        return {
          ready: true,
          degraded: true,
          detail: `rotation failing (${rotationFailure}): signing with the newest secret`,
          ...described,
        };
      return { ready: true, degraded: false, detail: `${ours} managed secrets in ${setKey}; signing with the newest`, ...described };
    },
    close() {
      closed = true;
      deps.timers.clearInterval(timer);
    },
  };
}
