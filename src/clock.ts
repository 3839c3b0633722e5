// Time as a dependency: reading it (Clock) and waiting on it (Timers), so windows, expiry,
// timeouts and periodic work are testable without sleeping: a test moves a manual clock
// (test/helpers/clock.ts) and the timers that fall due on the way fire, in order.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

declare const timerHandle: unique symbol;

/** A timer set through Timers: good only for handing back to its clear method. */
export interface TimerHandle {
  readonly [timerHandle]: true;
}

/** Node's four timer functions, injected. */
export interface Timers {
  /** Calls `callback` once, `ms` milliseconds from now. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels it; a timer that already fired, or none, is ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Calls `callback` every `ms` milliseconds until cleared. */
  setInterval(callback: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

type NodeTimer = ReturnType<typeof setTimeout>;
const toHandle = (timer: NodeTimer) => timer as unknown as TimerHandle;
const toTimer = (handle: TimerHandle | undefined) => handle as unknown as NodeTimer | undefined;

/**
 * Node's timers. An interval is background work (a probe, a poll, a flush) that its
 * owner's close() stops, so it never keeps the process running: unref'd here, once for
 * every caller. A timeout bounds a wait that something else keeps alive (a request, a
 * socket) and is cleared when that ends: left as Node makes it.
 */
export const systemTimers: Timers = {
  setTimeout: (callback, ms) => toHandle(setTimeout(callback, ms)),
  clearTimeout: (handle) => clearTimeout(toTimer(handle)),
  setInterval: (callback, ms) => toHandle(setInterval(callback, ms).unref()),
  clearInterval: (handle) => clearInterval(toTimer(handle)),
};
