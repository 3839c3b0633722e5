import { describe, expect, it } from '@jest/globals';
import { unsettled, untilSettled } from '../../../bench/idle.js';

const exposition = (homeserver: number, introspection: number, fallback?: number) =>
  [
    '# HELP matrix_turn_upstream_requests_in_flight Upstream calls in flight.',
    '# TYPE matrix_turn_upstream_requests_in_flight gauge',
    `matrix_turn_upstream_requests_in_flight{upstream="homeserver"} ${homeserver}`,
    `matrix_turn_upstream_requests_in_flight{upstream="introspection"} ${introspection}`,
    'matrix_turn_upstream_requests_in_flight_other 7',
    ...(fallback === undefined ? [] : [`matrix_turn_rate_limit_fallback_active ${fallback}`]),
    '',
  ].join('\n');

describe('unsettled', () => {
  it('adds up the calls of every upstream and reads no other series', () => {
    expect(unsettled(exposition(3, 2))).toEqual({ upstreamCalls: 5, limiterFallback: false });
    expect(unsettled(exposition(0, 0, 0))).toEqual({ upstreamCalls: 0, limiterFallback: false });
  });

  it('tells a limiter in its Redis fallback; a service without Redis exports no such series', () => {
    expect(unsettled(exposition(0, 0, 1))).toEqual({ upstreamCalls: 0, limiterFallback: true });
    expect(unsettled('# no series\n')).toEqual({ upstreamCalls: 0, limiterFallback: false });
  });
});

describe('untilSettled', () => {
  it('reads until the calls are done and the fallback is over, pausing between readings, and says what it found first', async () => {
    const readings = [exposition(64, 0, 1), exposition(12, 0, 1), exposition(0, 0, 1), exposition(0, 0, 0), exposition(9, 0)];
    const pauses: number[] = [];
    const settling = await untilSettled({ read: async () => readings.shift()!, pause: async (ms) => void pauses.push(ms) });
    expect(settling).toEqual({ settled: true, first: { upstreamCalls: 64, limiterFallback: true } });
    expect(pauses).toEqual([10, 10, 10]);
    expect(readings).toHaveLength(1);
  });

  it('gives up after its readings, without a pause after the last', async () => {
    const pauses: number[] = [];
    const settling = await untilSettled({
      read: async () => exposition(1, 0),
      pause: async (ms) => void pauses.push(ms),
      maxReadings: 3,
    });
    expect(settling.settled).toBe(false);
    expect(pauses).toHaveLength(2);
  });
});
