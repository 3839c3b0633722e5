import { describe, expect, it } from '@jest/globals';
import { untilNoUpstreamCall, upstreamCallsInFlight } from '../../../bench/idle.js';

const exposition = (homeserver: number, introspection: number) =>
  [
    '# HELP matrix_turn_upstream_requests_in_flight Upstream calls in flight.',
    '# TYPE matrix_turn_upstream_requests_in_flight gauge',
    `matrix_turn_upstream_requests_in_flight{upstream="homeserver"} ${homeserver}`,
    `matrix_turn_upstream_requests_in_flight{upstream="introspection"} ${introspection}`,
    'matrix_turn_upstream_requests_in_flight_other 7',
    '',
  ].join('\n');

describe('upstreamCallsInFlight', () => {
  it('adds up every upstream and reads no other series', () => {
    expect(upstreamCallsInFlight(exposition(3, 2))).toBe(5);
    expect(upstreamCallsInFlight(exposition(0, 0))).toBe(0);
  });

  it('is 0 for a service without upstreams', () => {
    expect(upstreamCallsInFlight('# no series\n')).toBe(0);
  });
});

describe('untilNoUpstreamCall', () => {
  it('reads until the calls are done, pausing between readings', async () => {
    const readings = [exposition(64, 0), exposition(12, 0), exposition(0, 0), exposition(9, 0)];
    const pauses: number[] = [];
    const idle = await untilNoUpstreamCall({ read: async () => readings.shift()!, pause: async (ms) => void pauses.push(ms) });
    expect(idle).toBe(true);
    expect(pauses).toEqual([10, 10]);
    expect(readings).toHaveLength(1);
  });

  it('gives up after its readings, without a pause after the last', async () => {
    const pauses: number[] = [];
    const idle = await untilNoUpstreamCall({
      read: async () => exposition(1, 0),
      pause: async (ms) => void pauses.push(ms),
      maxReadings: 3,
    });
    expect(idle).toBe(false);
    expect(pauses).toHaveLength(2);
  });
});
