// Synapse's duration syntax (src/config/duration.ts).

import { parseSynapseDurationMs } from '../../../src/config/index.js';

describe("Synapse's durations", () => {
  it("parses Synapse's duration syntax", () => {
    expect(parseSynapseDurationMs(1500)).toBe(1500);
    expect(parseSynapseDurationMs('1500')).toBe(1500);
    expect(parseSynapseDurationMs('1y')).toBe(31_536_000_000);
    expect(parseSynapseDurationMs('10x')).toBeUndefined();
    expect(parseSynapseDurationMs(1.5)).toBeUndefined();
    expect(parseSynapseDurationMs(-1)).toBeUndefined();
    expect(parseSynapseDurationMs(true)).toBeUndefined();
  });
});
