// TalliedCounter: what a scrape reads is what prom-client's own Counter would have exported
// for the same increments, counted until the moment of each read.

import { describe, expect, it } from '@jest/globals';
import { Counter, Registry } from 'prom-client';
import { TalliedCounter } from '../../src/tallied-counter.js';

function pair() {
  const tallied = new Registry();
  const plain = new Registry();
  const config = { name: 'requests_total', help: 'Requests.', labelNames: ['method', 'result'] as const };
  return {
    tallied: new TalliedCounter({ ...config, labelNames: [...config.labelNames], registers: [tallied] }),
    plain: new Counter({ ...config, labelNames: [...config.labelNames], registers: [plain] }),
    read: async () => [await tallied.metrics(), await plain.metrics()],
    json: async () => [await tallied.getMetricsAsJSON(), await plain.getMetricsAsJSON()],
  };
}

describe('TalliedCounter', () => {
  it('exports what a plain Counter exports for the same increments, read after read', async () => {
    const { tallied, plain, read, json } = pair();
    const hit = tallied.tally('whoami', 'valid');
    const error = tallied.tally('whoami', 'error');
    const sameHit = plain.labels('whoami', 'valid');
    const sameError = plain.labels('whoami', 'error');
    let [a, b] = await read();
    expect(a).toBe(b);
    expect(a).not.toContain('requests_total{');
    for (let i = 0; i < 5; i++) {
      hit.inc();
      sameHit.inc();
    }
    error.inc(3);
    sameError.inc(3);
    [a, b] = await read();
    expect(a).toBe(b);
    expect(a).toContain('requests_total{method="whoami",result="valid"} 5');
    hit.inc();
    sameHit.inc();
    [a, b] = await read();
    expect(a).toBe(b);
    expect(a).toContain('requests_total{method="whoami",result="valid"} 6');
    const [talliedJson, plainJson] = await json();
    expect(talliedJson).toEqual(plainJson);
  });

  it('two tallies of the same series add up; a counter without labels takes none', async () => {
    const registry = new Registry();
    const issued = new TalliedCounter({ name: 'issued_total', help: 'Issued.', registers: [registry] });
    const one = issued.tally();
    const other = issued.tally();
    one.inc();
    other.inc(2);
    expect(await registry.metrics()).toContain('issued_total 3');
  });

  it('reset drops what was counted and not yet read', async () => {
    const registry = new Registry();
    const counter = new TalliedCounter({ name: 'x_total', help: 'X.', labelNames: ['k'], registers: [registry] });
    const tally = counter.tally('a');
    tally.inc(4);
    registry.resetMetrics();
    tally.inc();
    expect(await registry.metrics()).toContain('x_total{k="a"} 1');
  });

  it('refuses label values that do not match its label names', () => {
    const counter = new TalliedCounter({ name: 'y_total', help: 'Y.', labelNames: ['k'], registers: [] });
    expect(() => counter.tally()).toThrow('y_total: 0 label values for labels [k]');
    expect(() => counter.tally('a', 'b')).toThrow('y_total: 2 label values for labels [k]');
  });
});
