// An A/B run's verdict for one target: the medians of each side's rounds (a median, not a
// best: alternating rounds exist to cancel a noisy moment, not to pick one), B/A by
// throughput and A/B by CPU per request, held to "the new parts cost nothing": B at least
// 0.98 of A. The verdict takes the median of the rounds' own ratios (round i's B against
// round i's A, run back to back): this machine drifts by 30 % over a few minutes, which
// moves both sides of a round together but the two sides' medians apart.

import type { Figures } from './figures.js';

export const AB_TARGET = 0.98;

export interface AbSummary {
  target: string;
  rpsA: number;
  rpsB: number;
  /** rpsB / rpsA */
  byRps: number;
  cpuA?: number;
  cpuB?: number;
  /** cpuA / cpuB: below 1 when side B costs more a request. */
  byCpu?: number;
  p99A: number;
  p99B: number;
  /** The median over rounds of rpsB / rpsA, each round's pair run back to back. */
  pairedByRps: number;
  /** The median over rounds of cpuA / cpuB. */
  pairedByCpu?: number;
  met: boolean;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function abSummary(target: string, a: readonly Figures[], b: readonly Figures[]): AbSummary {
  const of = (side: readonly Figures[], pick: (f: Figures) => number | undefined) =>
    median(side.map(pick).filter((v): v is number => v !== undefined));
  const rpsA = of(a, (f) => f.rps);
  const rpsB = of(b, (f) => f.rps);
  const cpuA = of(a, (f) => f.cpuUsPerRequest);
  const cpuB = of(b, (f) => f.cpuUsPerRequest);
  const cpuKnown = !Number.isNaN(cpuA) && !Number.isNaN(cpuB) && cpuB > 0;
  const rounds = Math.min(a.length, b.length);
  const paired = (ratio: (x: Figures, y: Figures) => number | undefined) =>
    median(Array.from({ length: rounds }, (_, i) => ratio(a[i]!, b[i]!)).filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const pairedByRps = paired((x, y) => y.rps / x.rps);
  const pairedByCpu = paired((x, y) =>
    x.cpuUsPerRequest === undefined || !y.cpuUsPerRequest ? undefined : x.cpuUsPerRequest / y.cpuUsPerRequest,
  );
  return {
    target,
    rpsA,
    rpsB,
    byRps: rpsB / rpsA,
    ...(cpuKnown && { cpuA, cpuB, byCpu: cpuA / cpuB }),
    p99A: of(a, (f) => f.p99Ms),
    p99B: of(b, (f) => f.p99Ms),
    pairedByRps,
    ...(!Number.isNaN(pairedByCpu) && { pairedByCpu }),
    met: pairedByRps >= AB_TARGET,
  };
}

export function abLine(s: AbSummary): string {
  const cpu = s.byCpu === undefined ? '' : `; cpu ${s.cpuA!.toFixed(1)} → ${s.cpuB!.toFixed(1)} µs/req, A/B ${s.byCpu.toFixed(3)}`;
  const pairedCpu = s.pairedByCpu === undefined ? '' : `, by cpu ${s.pairedByCpu.toFixed(3)}`;
  return (
    `${s.target}: median ${Math.round(s.rpsA)} → ${Math.round(s.rpsB)} req/s, B/A ${s.byRps.toFixed(3)}` +
    `${cpu}; p99 ${s.p99A} → ${s.p99B} ms; round by round B/A ${s.pairedByRps.toFixed(3)}${pairedCpu} (target >= ${AB_TARGET})  ` +
    `${s.met ? 'ok' : 'BELOW'}`
  );
}
