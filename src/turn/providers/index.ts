// A provider entry of turn_servers, built: its Upstream (`provider:<name>`: timeout, cap on
// calls in flight, circuit breaker), its live secret, the provider module that speaks its
// API, the per-user credential cache in front, its health (the API answering), and the
// figures: every call counted by result and timed, every cache look-up counted.

import { createUpstream, type UpstreamLimits } from '../../auth/upstream.js';
import type { Clock, Timers } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { watchedSecret, type LiveSecret, type SecretRef } from '../../secret-file.js';
import type { MaybeAsyncMinter } from '../credentials.js';
import { cloudflareProvider } from './cloudflare.js';
import { meteredProvider } from './metered.js';
import { PROVIDER_FAILURE_REASONS, ProviderFailure, type ProviderFailureReason, type TurnProvider } from './provider.js';
import { providerCredentialCache, type IssuedCredential } from './provider-credential-cache.js';
import { providerHealth, type ProviderState } from './provider-health.js';
import { twilioProvider } from './twilio.js';
import { userIdentifiers } from './user-identifier.js';

export type ProviderApi =
  | { readonly kind: 'cloudflare'; readonly apiUrl: string; readonly keyId: string; readonly apiToken: SecretRef }
  | {
      readonly kind: 'twilio';
      readonly apiUrl: string;
      readonly accountSid: string;
      /** The HTTP Basic user: the account SID, or an API key SID. */
      readonly user: string;
      readonly secret: SecretRef;
      /** The key of `secret` in the entry: auth_token or api_key_secret. */
      readonly secretSetting: string;
    }
  | { readonly kind: 'metered'; readonly apiUrl: string; readonly secretKey: SecretRef };

export interface ProviderOptions {
  readonly api: ProviderApi;
  /** Users whose credential is kept (PROVIDER_CACHE_SIZE). */
  readonly cacheSize: number;
  /** What its Upstream is held to (the UPSTREAM_* settings). */
  readonly upstream: UpstreamLimits;
  /** Where the entry's settings are, as logs name them: turn_servers[cf]. */
  readonly settingPrefix: string;
}

export interface ProviderServerOptions {
  /** The entry's name: in logs, metrics, /readyz, and the Upstream's label provider:<name>. */
  readonly name: string;
  /** The lifetime asked for, clamped to the provider's longest. */
  readonly ttlSeconds: number;
  readonly provider: ProviderOptions;
}

export interface ProviderServerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** What the Upstream's deadlines and the secret file's poll run on; default Node's. */
  readonly timers?: Timers;
}

export interface ProviderServer {
  /** The user's kept credential at once, or a promise of a new one that rejects with a ProviderFailure. */
  readonly minter: MaybeAsyncMinter;
  state(this: void): ProviderState;
  /** The entry as /readyz lists it. */
  status(this: void): Record<string, unknown>;
  close(): Promise<void>;
}

export function createProviderServer(options: ProviderServerOptions, deps: ProviderServerDeps): ProviderServer {
  const { name, provider: settings } = options;
  const { clock, logger, metrics, timers } = deps;
  const upstream = createUpstream({
    name: `provider:${name}`,
    ...settings.upstream,
    metrics,
    logger,
    clock,
    ...(timers !== undefined && { timers }),
  });
  const { api } = settings;
  const { keyName, ref } = apiKey(api);
  const keySetting = providerKeySetting(settings);
  // The key's only rule at start is not being empty, which every re-read checks.
  const secret = watchedSecret(ref, `${settings.settingPrefix}.${keyName}_file`, logger, {
    failures: metrics.secretReloadFailures,
    ...(timers !== undefined && { timers }),
  });
  const turnProvider = providerFor(api, secret, upstream);
  const identify = userIdentifiers(secret);
  const ttlSeconds = Math.min(options.ttlSeconds, turnProvider.maxTtlSeconds);
  const health = providerHealth({ server: name, provider: api.kind, keySetting, logger, clock });

  const results = Object.fromEntries(
    (['ok', ...PROVIDER_FAILURE_REASONS] as const).map((result) => [result, metrics.turnProviderRequests.labels(name, result)]),
  ) as Record<'ok' | ProviderFailureReason, { inc(amount?: number): void }>;
  for (const counter of Object.values(results)) counter.inc(0);
  const duration = metrics.turnProviderDuration.labels(name);
  const cacheCounts = {
    hit: metrics.turnProviderCacheRequests.labels(name, 'hit'),
    miss: metrics.turnProviderCacheRequests.labels(name, 'miss'),
    coalesced: metrics.turnProviderCacheRequests.labels(name, 'coalesced'),
  };

  async function issue(userId: string): Promise<IssuedCredential> {
    const issuedAtMs = clock.nowMs();
    const startNs = process.hrtime.bigint();
    try {
      const credential = await turnProvider.issue({ ttlSeconds, userIdentifier: identify(userId) });
      results.ok.inc();
      health.succeeded();
      return { ...credential, issuedAtMs };
    } catch (error) {
      const failure = ProviderFailure.of(error);
      results[failure.reason].inc();
      health.failed(failure);
      throw failure;
    } finally {
      duration.observe(Number(process.hrtime.bigint() - startNs) / 1e9);
    }
  }

  const cache = providerCredentialCache(issue, { size: settings.cacheSize, clock, counts: cacheCounts });
  return {
    minter: { mint: (userId) => cache.credentialFor(userId) },
    state: health.state,
    status: health.status,
    async close() {
      secret.close();
      await upstream.close();
    },
  };
}

/** The setting holding the key the provider checks, as an operator wrote it: turn_servers[cf].api_token_file. */
export function providerKeySetting(settings: ProviderOptions): string {
  const { keyName, ref } = apiKey(settings.api);
  return `${settings.settingPrefix}.${keyName}${ref.path === undefined ? '' : '_file'}`;
}

function apiKey(api: ProviderApi): { keyName: string; ref: SecretRef } {
  switch (api.kind) {
    case 'cloudflare':
      return { keyName: 'api_token', ref: api.apiToken };
    case 'twilio':
      return { keyName: api.secretSetting, ref: api.secret };
    case 'metered':
      return { keyName: 'secret_key', ref: api.secretKey };
  }
}

function providerFor(api: ProviderApi, secret: LiveSecret, upstream: ReturnType<typeof createUpstream>): TurnProvider {
  switch (api.kind) {
    case 'cloudflare':
      return cloudflareProvider({ apiUrl: api.apiUrl, keyId: api.keyId, apiToken: secret, upstream });
    case 'twilio':
      return twilioProvider({ apiUrl: api.apiUrl, accountSid: api.accountSid, user: api.user, secret, upstream });
    case 'metered':
      return meteredProvider({ apiUrl: api.apiUrl, secretKey: secret, upstream });
  }
}
