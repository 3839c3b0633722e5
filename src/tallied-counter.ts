// A prom-client Counter whose request-path children count in a plain number, added to the
// counter when it is collected: prom-client calls a metric's collect() before every read of
// it (a scrape, registry.metrics(), getMetricsAsJSON()), so what is exported is the same,
// up to the moment of the read. prom-client's own child (counter.labels(...).inc()) turns its
// labels into a hash key and looks the series up on every increment; a request on the hot
// path makes two (a token cache hit, a credential issued): 309 ns for the two against 9 ns
// tallied (bench/fast-paths.ts, node 20.20.2 and 24.21.0 alike), about 0.6 % of a request.
// Public API only: `collect` is prom-client's documented hook for values computed at
// scrape time; test/unit/tallied-counter.test.ts holds the exposition equal to a plain
// Counter's for the same increments.

import { Counter, type CounterConfiguration } from 'prom-client';

/** One bound series: inc() adds to a number of its own. */
export interface Tally {
  inc(value?: number): void;
}

interface Pending {
  readonly labels: Partial<Record<string, string>>;
  count: number;
}

export class TalliedCounter<T extends string> extends Counter<T> {
  // Not a #private field: Counter's constructor calls reset() before this class's fields exist.
  private readonly pending: Pending[] = [];
  readonly #name: string;
  readonly #labelNames: readonly string[];

  constructor(configuration: Omit<CounterConfiguration<T>, 'collect'>) {
    super(configuration);
    this.#name = configuration.name;
    this.#labelNames = configuration.labelNames ?? [];
  }

  /** The series of these label values (in labelNames' order), counted until the next read. */
  tally(...values: string[]): Tally {
    const labelNames = this.#labelNames;
    if (values.length !== labelNames.length) {
      throw new Error(`${this.#name}: ${values.length} label values for labels [${labelNames.join(', ')}]`);
    }
    const pending: Pending = { labels: Object.fromEntries(labelNames.map((name, i) => [name, values[i]!])), count: 0 };
    this.pending.push(pending);
    return {
      inc(value = 1) {
        pending.count += value;
      },
    };
  }

  /** Called by prom-client before every read: hands what was counted to the counter. */
  collect(): void {
    for (const pending of this.pending) {
      if (pending.count === 0) continue;
      this.inc(pending.labels as Partial<Record<T, string>>, pending.count);
      pending.count = 0;
    }
  }

  override reset(): void {
    // Undefined while Counter's constructor runs.
    for (const pending of this.pending ?? []) pending.count = 0;
    super.reset();
  }
}
