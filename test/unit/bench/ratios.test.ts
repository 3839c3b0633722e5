// The ratios the bench prints: each of two measured targets, by throughput and by CPU per
// request, held to its target; a ratio whose targets were not both run is left out.

import type { Figures } from '../../../bench/figures.js';
import { ratios, type RatioSpec } from '../../../bench/ratios.js';
import { ratioTable } from '../../../bench/report.js';

const figures = (id: string, rps: number, cpuUsPerRequest?: number): [string, Figures] => [
  id,
  {
    id,
    name: id,
    kind: 'service',
    rps,
    p50Ms: 1,
    p99Ms: 2,
    non2xx: 0,
    errors: 0,
    requests: rps,
    ...(cpuUsPerRequest && { cpuUsPerRequest }),
  },
];

const SPECS: RatioSpec[] = [
  { of: 'in-process', over: 'koa', atLeast: 0.7, why: '' },
  { of: 'redis', over: 'koa', atLeast: 0.7, why: '' },
  { of: 'redis', over: 'bare', why: '' },
];

describe('the bench ratios', () => {
  const measured = new Map([figures('koa', 40000, 25), figures('in-process', 30000, 40), figures('redis', 20000)]);
  const found = ratios(measured, SPECS);

  it('gives each ratio by throughput and, when both processes were read, by CPU per request', () => {
    expect(found.map((r) => [r.of, r.over])).toEqual([
      ['in-process', 'koa'],
      ['redis', 'koa'],
    ]);
    expect(found[0]!.byRps).toBeCloseTo(0.75, 6);
    expect(found[0]!.byCpu).toBeCloseTo(25 / 40, 6);
    expect(found[1]!.byCpu).toBeUndefined();
  });

  it('holds each to its target', () => {
    expect(found.map((r) => r.met)).toEqual([true, false]);
  });

  it('prints them with names, targets and the verdict', () => {
    const table = ratioTable(found, new Map([['koa', 'koa + router']]));
    expect(table.split('\n').slice(2)).toEqual([
      'in-process / koa + router  0.750     0.625   >= 0.70  ok',
      'redis / koa + router       0.500     -       >= 0.70  BELOW',
    ]);
  });
});
