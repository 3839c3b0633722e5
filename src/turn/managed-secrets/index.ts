// Managed secrets put together: the store on coturn's Redis (secret-store.ts), the signing
// secret that follows it and rotates it (signing-secret.ts, rotation.ts), read again as
// soon as the connection is (re)established, and the minter that signs with it. Also the
// one read the doctor makes, on a connection of its own.

import type { Clock, Timers } from '../../clock.js';
import { MatrixError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import {
  closeRedisClient,
  createRedisClient,
  describeRedisError,
  type RedisClient,
  type RedisConnectionOptions,
} from '../../redis/client.js';
import type { LiveSecret } from '../../secret-file.js';
import type { CredentialMinter } from '../credentials.js';
import { redisSecretStore, type SetContents } from './secret-store.js';
import { createSigningSecret, refreshIntervalMs, type SigningSecret, type SigningSecretOptions } from './signing-secret.js';

export { maxManagedSecrets } from './rotation.js';
export { coturnKeys, secretId, type ManagedSecret, type SetContents } from './secret-store.js';
export type { ManagedSecretsOptions, SigningSecret } from './signing-secret.js';

export interface ManagedSecretsDeps {
  /** The client of COTURN_REDIS_URL. */
  readonly client: RedisClient;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'secretRotations' | 'signingSecretAge' | 'secretRotationInterval' | 'managedSecrets'>;
  readonly fallback?: Pick<LiveSecret, 'current'>;
}

/**
 * The store's calls are bounded by a quarter of the refresh interval (and the command
 * timeout), which is what lets signing-secret.ts count on every replica switching within
 * two refresh intervals.
 */
export function storeTimeoutMs(options: Pick<SigningSecretOptions, 'rotationIntervalMs' | 'commandTimeoutMs'>): number {
  return Math.min(options.commandTimeoutMs, Math.floor(refreshIntervalMs(options.rotationIntervalMs) / 4));
}

export function createManagedSecrets(options: SigningSecretOptions, deps: ManagedSecretsDeps): SigningSecret {
  const { client } = deps;
  const store = redisSecretStore(client, { realm: options.realm, timeoutMs: storeTimeoutMs(options), timers: deps.timers });
  const signing = createSigningSecret(options, { ...deps, store });
  // Read at once when the connection is up, and again after each reconnection: catching up.
  const onReady = () => void signing.refresh();
  client.on('ready', onReady);
  if (client.status === 'ready') onReady();
  return {
    ...signing,
    close() {
      client.off('ready', onReady);
      signing.close();
    },
  };
}

/**
 * The minter of a server with managed secrets: `minter` signs with `signing.current()`;
 * while no secret is known at all, a client is told to come back shortly rather than given
 * a credential coturn would refuse.
 */
export function managedSecretMinter(minter: CredentialMinter, signing: Pick<SigningSecret, 'canSign'>): CredentialMinter {
  return {
    mint(userId) {
      if (!signing.canSign()) throw noSecretYet();
      return minter.mint(userId);
    },
  };
}

function noSecretYet(): MatrixError {
  return new MatrixError(503, 'M_UNKNOWN', 'TURN credentials are not available right now; try again shortly', {
    headers: { 'Retry-After': '1' },
    detail: "no managed TURN secret known yet: coturn's Redis (COTURN_REDIS_URL) has not been read",
    // The signing secret logs the outage once, and /readyz shows it.
    reported: true,
  });
}

/**
 * One read of the set, for the doctor: a client of its own connects (within its connect
 * timeout), reads our members (the newest last) and how many others, and closes; or the
 * reason it could not, in words that hold no credential.
 */
export async function readCoturnSet(
  redis: RedisConnectionOptions,
  realm: string,
  deps: { readonly logger: Logger; readonly timers: Timers },
): Promise<{ readonly contents: SetContents } | { readonly error: string }> {
  const client = createRedisClient({ ...redis, urlSetting: 'COTURN_REDIS_URL' }, { logger: deps.logger, timers: deps.timers });
  let lastError: string | undefined;
  client.on('error', (error: unknown) => (lastError = describeRedisError(error)));
  const connectMs = Math.max(2000, redis.commandTimeoutMs * 4);
  try {
    if (!(await becomesReady(client, connectMs, deps.timers))) return { error: lastError ?? `not connected within ${connectMs} ms` };
    const store = redisSecretStore(client, { realm, timeoutMs: redis.commandTimeoutMs, timers: deps.timers });
    return { contents: await store.read() };
  } catch (error) {
    return { error: describeRedisError(error) };
  } finally {
    await closeRedisClient(client, redis.commandTimeoutMs);
  }
}

function becomesReady(client: RedisClient, timeoutMs: number, timers: Timers): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => settle(true);
    const timer = timers.setTimeout(() => settle(false), timeoutMs);
    function settle(ready: boolean): void {
      timers.clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    }
    client.once('ready', onReady);
  });
}
