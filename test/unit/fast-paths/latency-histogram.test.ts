// LatencyHistogram exposes exactly what prom-client's Histogram would for the same
// observations: the same text on /metrics and the same JSON, for any label sets and any
// values (including ones on a bucket's bound, below the first and above the last).

import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../../../src/fast-paths/latency-histogram.js';
import { LATENCY_BUCKETS_SECONDS } from '../../../src/metrics.js';

const OPTIONS = {
  name: 'test_duration_seconds',
  help: 'A test histogram.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: LATENCY_BUCKETS_SECONDS,
};

const observation = fc.record({
  labels: fc.tuple(fc.constantFrom('/a', '/b', 'unmatched'), fc.constantFrom('GET', 'OPTIONS'), fc.constantFrom('200', '401', '429')),
  seconds: fc.oneof(fc.constantFrom(...LATENCY_BUCKETS_SECONDS, 0, 11, 1e-9), fc.double({ min: 0, max: 20, noNaN: true })),
});

function both() {
  const ours = new Registry();
  const theirs = new Registry();
  return {
    ours,
    theirs,
    latency: new LatencyHistogram({ ...OPTIONS, registers: [ours] }),
    reference: new Histogram({ ...OPTIONS, labelNames: [...OPTIONS.labelNames], buckets: [...OPTIONS.buckets], registers: [theirs] }),
  };
}

test('the same observations give the same exposition text and JSON as prom-client', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (observations) => {
      const { ours, theirs, latency, reference } = both();
      for (const { labels, seconds } of observations) {
        latency.labels(...labels).observe(seconds);
        reference.labels(...labels).observe(seconds);
      }
      expect(sortedLines(await ours.metrics())).toEqual(sortedLines(await theirs.metrics()));
      expect(canonical(await ours.getMetricsAsJSON())).toEqual(canonical(await theirs.getMetricsAsJSON()));
    }),
  );
});

test('an observer bound once keeps counting; reset empties every series', async () => {
  const { ours, latency } = both();
  const ok = latency.labels('/a', 'GET', '200');
  ok.observe(0.0007);
  ok.observe(0.003);
  expect(await ours.metrics()).toContain('test_duration_seconds_count{route="/a",method="GET",status="200"} 2');
  expect(await ours.metrics()).toContain('test_duration_seconds_bucket{le="0.001",route="/a",method="GET",status="200"} 1');
  ours.resetMetrics();
  expect(await ours.metrics()).not.toContain('test_duration_seconds_count');
  ok.observe(0.003);
  expect(await ours.metrics()).toContain('test_duration_seconds_count{route="/a",method="GET",status="200"} 1');
});

test('the wrong number of label values is refused', () => {
  expect(() => both().latency.labels('/a', 'GET')).toThrow(/takes 3 label values, not 2/);
});

/** Series lines sorted: the order of label sets is the only freedom either has. */
function sortedLines(text: string): string[] {
  return text.split('\n').sort();
}

function canonical(json: unknown): unknown {
  const metrics = json as { values: { metricName?: string; labels: Record<string, unknown>; value: number }[] }[];
  return metrics.map((m) => ({
    ...m,
    values: m.values
      .map((v) => ({ metricName: v.metricName, labels: v.labels, value: v.value }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  }));
}
