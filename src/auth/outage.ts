// The log of one upstream's outages, told once each: a warning when its calls start
// failing (naming the upstream and the first failure), and an info line when it answers
// again (how many requests failed meanwhile, how many of those the circuit breaker
// refused without asking it, how long it lasted). Each failed request in between carries
// a MatrixError marked `reported`, so the error step logs it at debug only: an outage of
// ten thousand requests is two lines at info, not ten thousand warnings.
//
// The outage ends with the first success of a call that started after the latest failure:
// an answer to a call made before it (a slow success still in flight while the upstream
// went down, or while the cap on calls in flight refused others) says nothing about now.
// Calls the breaker refuses are counted but do not move that line, so the breaker's probe
// ends the outage when it succeeds.

import type { Clock } from '../clock.js';
import { type MatrixError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface OutageLog {
  /** Called when a call starts; the call's outcome is told to what it returns. */
  call(): OutageCall;
  /**
   * A call refused before the upstream was asked (the breaker is open): counted in the
   * outage, not taken as news of it. Returns the error to throw, marked reported.
   */
  failedFast(error: MatrixError): MatrixError;
}

export interface OutageCall {
  /** The call failed for a reason that is the upstream's. Returns the error to throw, marked reported. */
  failed(error: MatrixError): MatrixError;
  /** The upstream answered. */
  succeeded(): void;
}

export interface OutageLogOptions {
  /** Label in the log lines: homeserver, introspection, jwks. */
  upstream: string;
  logger: Logger;
  /** For the outage's duration. */
  clock: Clock;
}

interface Outage {
  readonly startedAtMs: number;
  failedRequests: number;
  failedFast: number;
}

export function outageLog(options: OutageLogOptions): OutageLog {
  const { upstream, logger, clock } = options;
  let current: Outage | undefined;
  // Counts the failures that reached (or tried to reach) the upstream; a call remembers
  // the count it started at, and only a call that saw no new failure may end an outage.
  let failures = 0;

  const fail = (error: MatrixError): MatrixError => {
    if (current === undefined) {
      current = { startedAtMs: clock.nowMs(), failedRequests: 0, failedFast: 0 };
      logger.warn(
        { upstream, status: error.status, detail: error.detail },
        'upstream outage started: requests needing it fail until it answers again',
      );
    }
    current.failedRequests += 1;
    return error.asReported();
  };

  return {
    call() {
      const startedAt = failures;
      return {
        failed(error) {
          failures += 1;
          return fail(error);
        },
        succeeded() {
          if (current === undefined || startedAt !== failures) return;
          const { startedAtMs, failedRequests, failedFast } = current;
          current = undefined;
          logger.info(
            { upstream, failedRequests, failedFast, durationMs: clock.nowMs() - startedAtMs },
            'upstream outage ended: answering again',
          );
        },
      };
    },
    failedFast(error) {
      const marked = fail(error);
      current!.failedFast += 1;
      return marked;
    },
  };
}
