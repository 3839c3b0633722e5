// Token guessing defence, around verification. Each client address has a budget of
// unknown tokens (UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND / _BURST, Synapse bucket semantics);
// only a verification that ends in M_UNKNOWN_TOKEN spends from it, and an address whose
// budget is spent gets 429 before anyone upstream is asked. Only tokens the cache cannot
// vouch for come here (routes.ts serves a known-valid one first), so a known user behind
// the same NAT as a guesser keeps working.
//
// A count kept only after each answer is outrun by a flood sent all at once, so a token
// being verified holds a unit of its address's budget: an address has at most as many
// verifications in flight as it has units left. A wrong token's answer spends its unit, a
// valid one's hands it back. 1,000 wrong tokens at once thus reach the homeserver `burst`
// times (plus the refill while they last), not `burst` plus however many were in flight.
//
// A token beyond those units waits its turn instead of being refused. Behind the
// homeserver's reverse proxy (TRUST_PROXY off) every user has the proxy's address, and a
// cold cache (a restart, a rollout, many cache entries ending together) makes every user
// an unproven token: refusing beyond `burst` refused most of a wave of valid users, who
// can only be told from guessers by asking. Waiters are admitted first come first served
// as verifications end, and each re-checks the budget on its turn, so after wrong tokens
// spent it a waiter gets the 429 a newcomer would. A wave of valid users is thus verified
// `burst` at a time, and all served; the homeserver's load stays bounded where it already
// is, by the upstream cap (UPSTREAM_MAX_CONCURRENCY and its wait, auth/upstream.ts). The
// wait is bounded in count (maxPendingPerAddress, verifying and waiting, then 429 at once)
// and in time (maxWaitMs, then 429), so no flood holds an unbounded queue. Budgets are
// per replica (in-process): N replicas let through at most N times as much.

import type { IncomingMessage } from 'node:http';
import { systemTimers, type TimerHandle, type Timers } from '../clock.js';
import type { Metrics } from '../metrics.js';
import type { RateDecision } from '../ratelimit/types.js';
import { clientAddressKey } from './client-address.js';
import { MatrixError } from '../errors.js';

export interface AddressBudget {
  /** Whether the address may try another token now, spending nothing; if not, the wait advised. */
  peek(addressKey: string): RateDecision;
  /** Unknown tokens the address could present now one after another (0 when peek refuses). */
  headroom(addressKey: string): number;
  /** Spends one unit: an unknown token was presented. */
  consume(addressKey: string): Promise<RateDecision>;
}

export interface UnknownTokenGuardOptions {
  budget: AddressBudget;
  /**
   * Unproven tokens of one address in the guard at once, being verified or waiting their
   * turn; more get 429 at once. (Those verified at once never exceed the address's headroom.)
   */
  maxPendingPerAddress: number;
  trustProxy: boolean;
  metrics: Metrics;
  /** Milliseconds a token waits for its turn before 429. Default 10000. */
  maxWaitMs?: number;
  /** What the wait for a turn runs on; default Node's. */
  timers?: Timers;
}

/**
 * Long enough for a queue of a thousand to drain `burst` (20) at a time at 200 ms a whoami,
 * and with the upstream's own wait and timeout still inside the server's 30 s request timeout.
 */
const DEFAULT_MAX_WAIT_MS = 10_000;

/** Wait advised when an address's queue is full or its turn did not come in time. */
const PENDING_RETRY_AFTER_MS = 1000;

/** The HTTP request: its peer address, and X-Forwarded-For when the proxy is trusted. */
export type GuardedRequest = Pick<IncomingMessage, 'socket' | 'headersDistinct'>;

/** `verify` runs once the address's turn comes, its outcome spending from the address's budget. */
export type UnknownTokenGuard = <T>(req: GuardedRequest, verify: () => Promise<T>) => Promise<T>;

interface Waiter {
  admit(): void;
  refuse(error: MatrixError): void;
  timer: TimerHandle;
}

/** One address's tokens in the guard: those being verified, and those waiting in order. */
interface Line {
  verifying: number;
  readonly waiting: Waiter[];
}

export function unknownTokenGuard(options: UnknownTokenGuardOptions): UnknownTokenGuard {
  const { budget, maxPendingPerAddress, trustProxy } = options;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const timers = options.timers ?? systemTimers;
  const limited = options.metrics.rateLimited.tally('address');
  const lines = new Map<string, Line>();

  const limitExceeded = (retryAfterMs: number): MatrixError => {
    limited.inc();
    return MatrixError.limitExceeded(retryAfterMs);
  };
  const overBudget = (address: string): MatrixError => {
    const decision = budget.peek(address);
    return limitExceeded(decision.allowed ? PENDING_RETRY_AFTER_MS : decision.retryAfterMs);
  };
  const forget = (address: string, line: Line): void => {
    if (line.verifying === 0 && line.waiting.length === 0) lines.delete(address);
  };

  /** Admits waiters in order while the address has units that no verification holds. */
  const drain = (address: string, line: Line): void => {
    while (line.waiting.length > 0) {
      const headroom = budget.headroom(address);
      if (headroom === 0) {
        for (const waiter of line.waiting.splice(0)) {
          timers.clearTimeout(waiter.timer);
          waiter.refuse(overBudget(address));
        }
        return;
      }
      if (line.verifying >= headroom) return;
      const next = line.waiting.shift()!;
      timers.clearTimeout(next.timer);
      line.verifying += 1;
      next.admit();
    }
  };

  /** Admits a token now (undefined) or queues it (settled on its turn); throws 429. Synchronous up to the queue. */
  const admission = (address: string): Promise<void> | undefined => {
    const headroom = budget.headroom(address);
    if (headroom === 0) throw overBudget(address);
    let line = lines.get(address);
    if (line === undefined) {
      line = { verifying: 0, waiting: [] };
      lines.set(address, line);
    }
    if (line.verifying + line.waiting.length >= maxPendingPerAddress) throw limitExceeded(PENDING_RETRY_AFTER_MS);
    if (line.waiting.length === 0 && line.verifying < headroom) {
      line.verifying += 1;
      return undefined;
    }
    const queued = line;
    const turn = new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        admit: resolve,
        refuse: reject,
        timer: timers.setTimeout(() => {
          queued.waiting.splice(queued.waiting.indexOf(waiter), 1);
          forget(address, queued);
          reject(limitExceeded(PENDING_RETRY_AFTER_MS));
        }, maxWaitMs),
      };
      queued.waiting.push(waiter);
    });
    // The budget may have refilled since the last verification ended.
    drain(address, queued);
    return turn;
  };

  const finish = (address: string): void => {
    const line = lines.get(address)!;
    line.verifying -= 1;
    drain(address, line);
    forget(address, line);
  };

  return async function guardUnknownTokens(req, verify) {
    // headersDistinct is built from every header line on first use: only when it is read.
    const forwardedFor = trustProxy ? req.headersDistinct['x-forwarded-for'] : undefined;
    const address = clientAddressKey({ remoteAddress: req.socket.remoteAddress, forwardedFor, trustProxy });
    const turn = admission(address);
    if (turn !== undefined) await turn;
    try {
      return await verify();
    } catch (error) {
      // Spent before the unit is handed back, so the waiters' re-check sees it.
      if (error instanceof MatrixError && error.errcode === 'M_UNKNOWN_TOKEN') await budget.consume(address);
      throw error;
    } finally {
      finish(address);
    }
  };
}
