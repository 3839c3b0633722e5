// A cap on calls in flight to one upstream. Beyond the cap a caller waits, first come
// first served, in a queue of bounded length for a bounded time; when the queue is full
// or the wait runs out it is refused. An overload therefore turns into quick refusals
// (upstream.ts answers 503 with Retry-After) instead of a pile of sockets, memory and
// ever-longer answers.

import { systemTimers, type TimerHandle, type Timers } from '../clock.js';

export type Permit =
  { readonly granted: true; release(): void } | { readonly granted: false; readonly reason: 'queue full' | 'waited too long' };

export interface ConcurrencyLimit {
  acquire(): Promise<Permit>;
  readonly inFlight: number;
  readonly waiting: number;
}

export interface ConcurrencyOptions {
  /** Calls in flight at once (at least 1). */
  maxInFlight: number;
  /** Callers allowed to wait for a slot; more are refused at once. */
  maxWaiting: number;
  /** Milliseconds a caller waits for a slot before it is refused. */
  maxWaitMs: number;
  /** What the wait runs on; default Node's. */
  timers?: Timers;
}

interface Waiter {
  grant(permit: Permit): void;
  timer: TimerHandle;
}

export function concurrencyLimit(options: ConcurrencyOptions): ConcurrencyLimit {
  const { maxInFlight, maxWaiting, maxWaitMs } = options;
  const timers = options.timers ?? systemTimers;
  let inFlight = 0;
  const queue: Waiter[] = [];

  const permit = (): Permit => {
    let released = false;
    return {
      granted: true,
      release() {
        if (released) return;
        released = true;
        const next = queue.shift();
        if (next === undefined) {
          inFlight -= 1;
          return;
        }
        // The slot passes straight to the next waiter: inFlight stays the same.
        timers.clearTimeout(next.timer);
        next.grant(permit());
      },
    };
  };

  return {
    acquire() {
      if (inFlight < maxInFlight) {
        inFlight += 1;
        return Promise.resolve(permit());
      }
      if (queue.length >= maxWaiting) return Promise.resolve({ granted: false, reason: 'queue full' });
      return new Promise<Permit>((resolve) => {
        const waiter: Waiter = {
          grant: resolve,
          timer: timers.setTimeout(() => {
            queue.splice(queue.indexOf(waiter), 1);
            resolve({ granted: false, reason: 'waited too long' });
          }, maxWaitMs),
        };
        queue.push(waiter);
      });
    },
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return queue.length;
    },
  };
}
