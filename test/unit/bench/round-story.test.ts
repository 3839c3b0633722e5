// What a failed round prints of the service's own counters: the upstream calls by outcome
// and the verifications by result that moved during it, read from two /metrics texts.

import { describeStory, storyCounters } from '../../../bench/round-story.js';

const exposition = (unreachable: number, answered: number, invalid: number, open = 0) =>
  [
    `matrix_turn_upstream_circuit_open{upstream="homeserver"} ${open}`,
    '# HELP matrix_turn_upstream_request_duration_seconds Calls to the homeserver.',
    `matrix_turn_upstream_request_duration_seconds_bucket{le="0.005",upstream="homeserver",outcome="response"} ${answered}`,
    `matrix_turn_upstream_request_duration_seconds_count{upstream="homeserver",outcome="response"} ${answered}`,
    `matrix_turn_upstream_request_duration_seconds_count{upstream="homeserver",outcome="unreachable"} ${unreachable}`,
    `matrix_turn_token_verifications_total{method="whoami",result="invalid"} ${invalid}`,
    'matrix_turn_credentials_issued_total 99',
  ].join('\n');

describe("a failed round's story", () => {
  it('names each upstream outcome and verification result that moved, and by how much', () => {
    const before = storyCounters(exposition(2, 100, 5));
    const after = storyCounters(exposition(9, 100, 6));
    expect(describeStory(before, after)).toBe(
      'upstream_request_duration_seconds_count{upstream="homeserver",outcome="unreachable"} +7, ' +
        'token_verifications_total{method="whoami",result="invalid"} +1',
    );
  });

  it('says an upstream breaker open at the end of the round as it stands, since its fast failures call nothing', () => {
    expect(describeStory(storyCounters(exposition(0, 0, 0, 1)), storyCounters(exposition(0, 0, 0, 1)))).toBe(
      'upstream_circuit_open{upstream="homeserver"} 1',
    );
  });

  it('counts a series first seen after the round from zero, and says so when nothing moved', () => {
    const after = storyCounters(exposition(3, 0, 0));
    expect(describeStory(new Map(), after)).toBe('upstream_request_duration_seconds_count{upstream="homeserver",outcome="unreachable"} +3');
    expect(describeStory(after, after)).toBe('nothing counted');
  });
});
