// Token guessing defence, around verification. Each client address has a
// budget of unknown tokens (UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND / _BURST, Synapse bucket
// semantics); every verification that ends in M_UNKNOWN_TOKEN spends from it. An address
// over its budget gets 429 before anyone upstream is asked. Only tokens the cache cannot
// vouch for come here (routes.ts serves a known-valid one before the guard), so a user
// behind the same NAT as a guesser keeps working. A flood sent all at once would outrun a count kept only after each answer, so
// an address also has at most `burst` unproven tokens being verified at a time. Budgets
// are per replica (in-process): N replicas let through at most N times as much.

import type { IncomingMessage } from 'node:http';
import type { Metrics } from '../metrics.js';
import type { RateDecision } from '../ratelimit/types.js';
import { clientAddressKey } from './client-address.js';
import { MatrixError } from './matrix-error.js';

export interface AddressBudget {
  /** Whether the address may try another token now, spending nothing. */
  peek(addressKey: string): RateDecision;
  /** Spends one unit: an unknown token was presented. */
  consume(addressKey: string): Promise<RateDecision>;
}

export interface UnknownTokenGuardOptions {
  budget: AddressBudget;
  /** Unproven tokens of one address verified at once; more get 429. */
  maxPendingPerAddress: number;
  trustProxy: boolean;
  metrics: Metrics;
}

/** Wait advised when an address already has its share of verifications in flight. */
const PENDING_RETRY_AFTER_MS = 1000;

/** The HTTP request: its peer address, and X-Forwarded-For when the proxy is trusted. */
export type GuardedRequest = Pick<IncomingMessage, 'socket' | 'headersDistinct'>;

/** `verify` runs after the address checks, its outcome spending from the address's budget. */
export type UnknownTokenGuard = <T>(req: GuardedRequest, verify: () => Promise<T>) => Promise<T>;

export function unknownTokenGuard(options: UnknownTokenGuardOptions): UnknownTokenGuard {
  const { budget, maxPendingPerAddress, trustProxy } = options;
  const limited = options.metrics.rateLimited.labels('address');
  const pending = new Map<string, number>();

  const refuse = (retryAfterMs: number): never => {
    limited.inc();
    throw MatrixError.limitExceeded(retryAfterMs);
  };

  return async function guardUnknownTokens(req, verify) {
    const address = clientAddressKey({ remoteAddress: req.socket.remoteAddress, forwardedFor: req.headersDistinct['x-forwarded-for'], trustProxy });
    const decision = budget.peek(address);
    if (!decision.allowed) refuse(decision.retryAfterMs);
    const inFlight = pending.get(address) ?? 0;
    if (inFlight >= maxPendingPerAddress) refuse(PENDING_RETRY_AFTER_MS);
    pending.set(address, inFlight + 1);
    try {
      return await verify();
    } catch (error) {
      if (error instanceof MatrixError && error.errcode === 'M_UNKNOWN_TOKEN') await budget.consume(address);
      throw error;
    } finally {
      const left = (pending.get(address) ?? 1) - 1;
      if (left <= 0) pending.delete(address);
      else pending.set(address, left);
    }
  };
}
