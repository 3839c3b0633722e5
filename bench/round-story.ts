// What a service's own counters say happened during a round that had failed answers: the
// upstream calls by outcome (answered, server error, timeout, unreachable) and the token
// verifications by result, read from its /metrics before and after the round, and whether
// an upstream's circuit breaker was open at its end (a call it fails fast is no upstream
// call). The bench throws the service's log away (writing it would cost more than the
// lines it would keep), so these are what is left to tell a breaker opened by timeouts
// from one opened by refused connections.

import { seriesReader } from './exposition.js';

/** The series a failed round prints: two counters, by how much they moved, and a gauge. */
const STORY_NAMES = [
  'matrix_turn_upstream_request_duration_seconds_count',
  'matrix_turn_token_verifications_total',
  'matrix_turn_upstream_circuit_open',
];
const readStorySeries = seriesReader(STORY_NAMES);

/** The gauges among them: printed as they stand after the round, when not 0. */
const GAUGE = /^upstream_circuit_open/;

/** Each story series of a Prometheus text exposition, by its name and labels. */
export function storyCounters(exposition: string): Map<string, number> {
  return new Map([...readStorySeries(exposition)].map(([series, value]) => [series.replace(/^matrix_turn_/, ''), value]));
}

/** The series that moved between two readings, with by how much; "nothing counted" when none did. */
export function describeStory(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): string {
  const moved = [...after].flatMap(([series, value]) => {
    if (GAUGE.test(series)) return value === 0 ? [] : [`${series} ${value}`];
    const change = value - (before.get(series) ?? 0);
    return change === 0 ? [] : [`${series} +${change}`];
  });
  return moved.length === 0 ? 'nothing counted' : moved.join(', ');
}

export async function storyCountersOf(metricsUrl: string): Promise<Map<string, number>> {
  const res = await fetch(metricsUrl);
  return storyCounters(await res.text());
}
