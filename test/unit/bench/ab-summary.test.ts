// The A/B verdict: medians of each side's rounds (one noisy round does not decide), side B
// held to 0.98 of side A by throughput, and the CPU per request of both sides beside it.

import { abLine, abSummary, median } from '../../../bench/ab-summary.js';
import type { Figures } from '../../../bench/figures.js';

const round = (rps: number, cpuUsPerRequest: number, p99Ms = 5): Figures => ({
  id: 'redis',
  name: 'redis',
  kind: 'service',
  rps,
  p50Ms: 1,
  p99Ms,
  non2xx: 0,
  errors: 0,
  requests: rps,
  cpuUsPerRequest,
});

test('the median of an odd and of an even number of rounds', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 3, 2])).toBe(2.5);
});

test('one slow round of side B does not decide; the medians do', () => {
  const a = [round(20000, 50), round(21000, 49), round(19000, 51)];
  const b = [round(20500, 50), round(5000, 80), round(20000, 50)];
  const summary = abSummary('redis', a, b);
  expect(summary).toMatchObject({ rpsA: 20000, rpsB: 20000, byRps: 1, cpuA: 50, cpuB: 50, byCpu: 1, met: true });
});

test("the verdict is the median of the rounds' own ratios: a drift that moves both sides of a round does not decide", () => {
  // A real run (in-process, health checks off then on): the machine slowed down in rounds 4 and 5.
  const a = [round(21132, 46.9), round(20853, 47.3), round(21302, 46.6), round(16114, 61.0), round(14575, 67.0)];
  const b = [round(18993, 52.6), round(21749, 45.4), round(20886, 47.1), round(17012, 57.9), round(13282, 74.0)];
  const summary = abSummary('in-process', a, b);
  expect(summary.byRps).toBeCloseTo(0.911, 3);
  expect(summary.pairedByRps).toBeCloseTo(0.98, 3);
  expect(summary.met).toBe(true);
});

test('side B more than 2 % slower is below the target, and the line says so with its CPU figures', () => {
  const summary = abSummary('in-process', [round(20000, 50, 4)], [round(19500, 52, 6)]);
  expect(summary.met).toBe(false);
  expect(abLine(summary)).toBe(
    'in-process: median 20000 → 19500 req/s, B/A 0.975; cpu 50.0 → 52.0 µs/req, A/B 0.962; p99 4 → 6 ms; ' +
      'round by round B/A 0.975, by cpu 0.962 (target >= 0.98)  BELOW',
  );
});
