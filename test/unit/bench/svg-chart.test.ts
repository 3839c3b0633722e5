// The bench's chart: what a reader of the docs sees in it. Every target named, each bar as
// long as its figure against the longest, the p99 bound drawn and a p99 over it in red,
// failed answers said, and names that are not XML left harmless.

import { barChart, COLOURS, P99_SCALE_CAP_MS, P99_WIDTH } from '../../../bench/svg-chart.js';
import type { Figures } from '../../../bench/figures.js';

const row = (id: string, kind: Figures['kind'], rps: number, p99Ms: number, more: Partial<Figures> = {}): Figures => ({
  id,
  name: id,
  kind,
  rps,
  p50Ms: 1,
  p99Ms,
  non2xx: 0,
  errors: 0,
  requests: rps * 10,
  ...more,
});

/** The bars of the chart, in document order. */
function bars(svg: string): { x: number; width: number; fill: string }[] {
  return [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="14" fill="([^"]+)"\/>/g)].map((m) => ({
    x: Number(m[1]),
    width: Number(m[2]),
    fill: m[3]!,
  }));
}

const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

describe('the bench chart', () => {
  const svg = barChart({
    subtitle: '2026-01-01 · commit abc1234',
    rows: [row('koa', 'ceiling', 40000, 3), row('service', 'service', 20000, 9, { cpuUsPerRequest: 41.4 })],
  });

  it('names every target and gives each its figures, CPU per request beside the throughput', () => {
    const shown = texts(svg);
    expect(shown).toEqual(expect.arrayContaining(['koa', 'service', '40,000', '20,000 (41 µs)', '3.0', '9.0']));
    expect(shown).toContain('2026-01-01 · commit abc1234');
  });

  it('draws each throughput bar in proportion to the largest, ceilings and the service told apart by colour', () => {
    const [koaRps, koaP99, serviceRps, serviceP99] = bars(svg);
    expect(serviceRps!.width / koaRps!.width).toBeCloseTo(0.5, 3);
    expect(koaRps!.fill).toBe(COLOURS.ceiling);
    expect(serviceRps!.fill).toBe(COLOURS.service);
    expect(serviceP99!.width / koaP99!.width).toBeCloseTo(3, 2);
  });

  it('draws a p99 at or over 8 ms in red, and the 8 ms line on the p99 scale', () => {
    const [, koaP99, , serviceP99] = bars(svg);
    expect(koaP99!.fill).toBe(COLOURS.ceiling);
    expect(serviceP99!.fill).toBe(COLOURS.over);
    const line = Number(/<line x1="([\d.]+)"/.exec(svg)![1]);
    // 8 ms sits at 8/9 of the 9 ms bar.
    expect(line - serviceP99!.x).toBeCloseTo((serviceP99!.width * 8) / 9, 0);
  });

  it('cuts a p99 far past the bound at the end of its scale, saying its figure, so the 8 ms line stays readable', () => {
    const slow = barChart({ subtitle: '', rows: [row('fast', 'service', 100, 2), row('slow', 'service', 100, 174)] });
    const [, fastP99, , slowP99] = bars(slow);
    expect(slowP99!.width).toBeCloseTo(P99_WIDTH, 0);
    expect(texts(slow)).toContain('174.0');
    const line = Number(/<line x1="([\d.]+)"/.exec(slow)![1]);
    expect(line - fastP99!.x).toBeCloseTo((P99_WIDTH * 8) / P99_SCALE_CAP_MS, 0);
  });

  it('says how many answers failed, in red', () => {
    const failing = barChart({ subtitle: '', rows: [row('x', 'service', 100, 1, { non2xx: 3, errors: 1 })] });
    expect(failing).toContain(`fill="${COLOURS.over}">100 4 failed</text>`);
  });

  it('escapes what XML would read as markup', () => {
    const odd = barChart({ subtitle: 'a & b', rows: [row('<koa> "x"', 'ceiling', 1, 1)] });
    expect(odd).toContain('&#60;koa&#62; &#34;x&#34;');
    expect(odd).toContain('a &#38; b');
    expect(odd).not.toContain('<koa>');
  });
});
