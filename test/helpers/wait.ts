// Waiting for a condition with a bounded deadline, instead of sleeping for a guessed time.
// The deadline is generous because the test machine may be slow and shared.

export interface WaitOptions {
  /** Give up after this many milliseconds. Default 15000. */
  timeoutMs?: number;
  /** Pause between probes, in milliseconds. Default 25. */
  intervalMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
}

/** Resolves with the first truthy value `probe` returns; rejects once the deadline passes. */
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}
