// What a managed TURN service is to the rest of the service: something that, asked for a
// credential of a lifetime for a user, answers with a username, a password and the URIs
// they work on, or fails with one reason from a fixed list. Each provider module
// (cloudflare.ts, twilio.ts, metered.ts) builds its documented request and reads its
// documented answer; the calls go through Upstream (timeout, cap, breaker).

import { MatrixError } from '../../errors.js';
import type { UpstreamResponse } from '../../auth/upstream.js';

export interface ProviderCredential {
  readonly username: string;
  readonly password: string;
  /** Deduplicated, port-53 URLs dropped (ice-servers.ts). */
  readonly uris: readonly string[];
  /** How long the credential works, counted from the moment it was asked for. */
  readonly lifetimeSeconds: number;
}

export interface CredentialRequest {
  /** Already clamped to the provider's longest (maxTtlSeconds). */
  readonly ttlSeconds: number;
  /** A stable identifier of the user that reveals nothing of the user id (user-identifier.ts). */
  readonly userIdentifier: string;
}

export interface TurnProvider {
  /** The longest lifetime the provider issues, in seconds. */
  readonly maxTtlSeconds: number;
  issue(request: CredentialRequest): Promise<ProviderCredential>;
}

/**
 * Why a provider gave no credential. refused: it refused our key (401/403: revoked,
 * mistyped, or of another account); bad_answer: it answered, but not as documented;
 * timeout: no answer in time; unavailable: a 5xx, no connection, or our circuit breaker open.
 */
export type ProviderFailureReason = 'refused' | 'bad_answer' | 'timeout' | 'unavailable';

export const PROVIDER_FAILURE_REASONS: readonly ProviderFailureReason[] = ['refused', 'bad_answer', 'timeout', 'unavailable'];

/** A provider's failure: never shown to a client (the selection answers for every server), never with a secret. */
export class ProviderFailure extends Error {
  override readonly name = 'ProviderFailure';
  readonly reason: ProviderFailureReason;
  /** When the provider (or our breaker) said to try again, in seconds. */
  readonly retryAfterSeconds: number | undefined;

  constructor(reason: ProviderFailureReason, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** An Upstream failure (a MatrixError: 5xx, timeout, unreachable, breaker open or calls capped) as a provider's. */
  static of(error: unknown): ProviderFailure {
    if (error instanceof ProviderFailure) return error;
    if (!(error instanceof MatrixError))
      return new ProviderFailure('unavailable', String((error as Error)?.message ?? error), { cause: error });
    const retryAfter = Number(error.headers['Retry-After']);
    return new ProviderFailure(error.status === 504 ? 'timeout' : 'unavailable', error.detail ?? error.message, {
      cause: error,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 && { retryAfterSeconds: retryAfter }),
    });
  }
}

/**
 * The body of a provider's answer when its status is one of `accepted`; otherwise the
 * failure it means. No 5xx reaches here: Upstream turns each into an error first.
 */
export function acceptedAnswer(res: UpstreamResponse, accepted: readonly number[], what: string): object {
  if (res.status === 401 || res.status === 403) throw new ProviderFailure('refused', `${what}: HTTP ${res.status}, our key was refused`);
  if (res.status === 429) throw new ProviderFailure('unavailable', `${what}: HTTP 429, too many requests`, { retryAfterSeconds: 1 });
  if (!accepted.includes(res.status)) throw new ProviderFailure('bad_answer', `${what}: HTTP ${res.status}`);
  if (res.json === null || typeof res.json !== 'object')
    throw new ProviderFailure('bad_answer', `${what}: HTTP ${res.status} without a JSON body`);
  return res.json;
}

/** A lifetime the provider stated, in whole seconds (Twilio's is a string), or undefined when it stated none that makes sense. */
export function statedSeconds(value: unknown): number | undefined {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}
