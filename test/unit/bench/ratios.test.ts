// The ratios the bench prints: each of two measured targets, by throughput and by CPU per
// request, held to its target; a ratio whose targets were not both run is left out.

import type { Figures } from '../../../bench/figures.js';
import { pairedRatio, ratios, type RatioSpec } from '../../../bench/ratios.js';
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
      'in-process / koa + router  0.750     0.625                             >= 0.70  ok',
      'redis / koa + router       0.500     -                                 >= 0.70  BELOW',
    ]);
  });
});

describe('a paired ratio: its two targets loaded back to back, several times', () => {
  const load = (rps: number, cpu: number, failed = 0) => ({ ...figures('x', rps, cpu)[1], non2xx: failed });

  it('is the median of each pair’s own ratio, which a drift of the machine between pairs moves little', () => {
    // The machine 30 % slower in the middle pair: both loads of it slower alike.
    const paired = pairedRatio([load(30000, 30), load(21000, 43), load(31000, 30)], [load(30000, 30), load(20000, 45), load(30000, 31)]);
    expect(paired!.byRps).toBeCloseTo(31 / 30, 6);
    expect(paired!.byCpu).toBeCloseTo(31 / 30, 6);
    expect(paired!.pairs).toBe(3);
  });

  it('leaves out a pair in which either load had a failed answer; none left: no paired ratio', () => {
    const paired = pairedRatio([load(30000, 30), load(90000, 5, 1)], [load(20000, 40), load(20000, 40)]);
    expect(paired).toEqual({ byRps: 1.5, byCpu: 40 / 30, pairs: 1 });
    expect(pairedRatio([load(30000, 30, 2)], [load(20000, 40)])).toBeUndefined();
  });

  it('decides the target when there is one, and is printed beside the best rounds’ figures', () => {
    const measured = new Map([figures('koa', 40000, 25), figures('redis', 26000, 38)]);
    // Best rounds say 0.65; loaded back to back the two give 0.72 and 0.71.
    const pairs = new Map([['redis/koa', { of: [load(26000, 38), load(25000, 39)], over: [load(36000, 26), load(35000, 27)] }]]);
    const [found] = ratios(measured, [SPECS[1]!], pairs);
    expect(found!.byRps).toBeCloseTo(0.65, 6);
    expect(found!.paired!.byRps).toBeCloseTo((26 / 36 + 25 / 35) / 2, 6);
    expect(found!.met).toBe(true);
    expect(ratioTable([found!], new Map()).split('\n')[2]).toBe('redis / koa  0.650     0.658   0.718 (2)     0.688       >= 0.70  ok');
  });
});
