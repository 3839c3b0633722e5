// Fast path: the histogram every request observes (matrix_turn_http_request_duration_seconds),
// a duck-typed prom-client metric. prom-client's Histogram, even through a child bound by
// labels(), turns the label set into a hash key and validates it on every observation; here
// a label set is resolved once, by labels(), to its own counts, and observing is a bucket
// search and three additions. It registers with a prom-client Registry as any metric does
// (the registry reads name, help, type, aggregator, get() and reset(); prom-client declares
// no interface for that, hence the cast) and exposes the same series, in the same form.
//
// Measured against prom-client's Histogram, node 20.20.2: bench/fast-paths.ts gives about
// 390 ns an observation through its bound child against 6 to 16 ns here, and the service spends
// about 1.1 µs less CPU a request with this (head-to-head, both builds under the same load,
// alternating 4 s slices in either order), about 2.3 % of the ~48 µs a request costs.
// Checked against prom-client 15.1.3: test/unit/fast-paths/latency-histogram.test.ts holds
// the exposition text and JSON equal to prom-client's own Histogram for the same
// observations, so an upgrade that changes either, or what the registry reads, fails there.

import type { Metric, Registry } from 'prom-client';

export interface Observer {
  observe(seconds: number): void;
}

/** One exported sample, in the form prom-client's registry reads from a metric's get(). */
interface Sample {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

interface Series extends Observer {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export interface LatencyHistogramOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Upper bounds in seconds, ascending. */
  buckets: readonly number[];
  registers: readonly Registry[];
}

export class LatencyHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly L[];
  private readonly buckets: readonly number[];
  private readonly series = new Map<string, Series>();

  constructor(options: LatencyHistogramOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.buckets = options.buckets;
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The observer of one label set, in labelNames order; keep it and observe through it. */
  labels(...values: string[]): Observer {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values, not ${values.length}`);
    }
    const key = values.join('\u0000');
    let series = this.series.get(key);
    if (series === undefined) {
      series = this.newSeries(Object.fromEntries(this.labelNames.map((name, i) => [name, values[i]!])));
      this.series.set(key, series);
    }
    return series;
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  /** What the registry reads at a scrape; a promise, as prom-client's own metrics give. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; values: Sample[]; aggregator: 'sum' }> {
    const values: Sample[] = [];
    for (const series of this.series.values()) {
      if (series.count === 0) continue;
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, ...series.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...series.labels }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...series.labels }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...series.labels }, value: series.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  private newSeries(labels: Record<string, string>): Series {
    const bounds = this.buckets;
    const series: Series = {
      labels,
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
      observe(seconds) {
        if (!Number.isFinite(seconds)) return;
        let i = 0;
        while (i < bounds.length && seconds > bounds[i]!) i += 1;
        series.counts[i]! += 1;
        series.sum += seconds;
        series.count += 1;
      },
    };
    return series;
  }
}
