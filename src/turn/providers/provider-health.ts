// A provider entry's health is its API answering: up after a credential came back, down
// with the failure's reason after one did not, unchecked before its first call (it has no
// URIs to probe up front, so the health checks skip it). Each change is logged once: a
// refused key with the setting to check, any other failure with its reason, and the
// recovery. What /readyz shows of it, never a secret.

import type { Clock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { ProviderFailure, ProviderFailureReason } from './provider.js';

export type ProviderState =
  | { readonly state: 'unchecked' }
  | { readonly state: 'up'; readonly checkedAtMs: number }
  | { readonly state: 'down'; readonly checkedAtMs: number; readonly reason: ProviderFailureReason; readonly detail: string };

export interface ProviderHealth {
  succeeded(this: void): void;
  failed(this: void, failure: ProviderFailure): void;
  state(this: void): ProviderState;
  /** The entry as /readyz lists it beside the checked servers. */
  status(this: void): Record<string, unknown>;
}

export interface ProviderHealthOptions {
  /** The entry's name in turn_servers. */
  readonly server: string;
  readonly provider: string;
  /** The setting holding the key the provider refuses when it answers 401/403, e.g. turn_servers[cf].api_token. */
  readonly keySetting: string;
  readonly logger: Logger;
  readonly clock: Clock;
}

export function providerHealth(options: ProviderHealthOptions): ProviderHealth {
  const { server, provider, keySetting, logger, clock } = options;
  let current: ProviderState = { state: 'unchecked' };

  return {
    succeeded() {
      const before = current;
      current = { state: 'up', checkedAtMs: clock.nowMs() };
      if (before.state === 'down') logger.info({ server, provider }, `TURN provider ${server} (${provider}) is issuing credentials again`);
    },
    failed(failure) {
      const before = current;
      current = { state: 'down', checkedAtMs: clock.nowMs(), reason: failure.reason, detail: failure.message };
      if (before.state === 'down' && before.reason === failure.reason) return;
      const fields = { server, provider, reason: failure.reason, detail: failure.message };
      if (failure.reason === 'refused')
        logger.warn(
          { ...fields, setting: keySetting },
          `TURN provider ${server} (${provider}) refused our key: check ${keySetting} (revoked, mistyped, or of another account)`,
        );
      else logger.warn(fields, `TURN provider ${server} (${provider}) gives no credentials (${failure.reason}): ${failure.message}`);
    },
    state: () => current,
    status() {
      const base = { name: server, provider, state: current.state };
      if (current.state === 'unchecked') return base;
      const checkedAt = new Date(current.checkedAtMs).toISOString();
      if (current.state === 'up') return { ...base, checkedAt };
      return { ...base, reason: current.reason, detail: current.detail, checkedAt };
    },
  };
}
