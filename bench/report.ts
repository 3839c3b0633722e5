// The bench's console output: one table row per target (requests per second, latency, CPU
// time per request of the target's process and of the load generator, non-2xx, errors,
// and a flag for each bound broken), then each ratio, best rounds and paired, with its target.

import { warnings, type Figures } from './figures.js';
import type { Ratio } from './ratios.js';

const fixed = (value: number | undefined, digits: number) => (value === undefined ? '-' : value.toFixed(digits));

export function figuresTable(rows: readonly Figures[]): string {
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'cpu µs/req', 'loadgen µs/req', 'non-2xx', 'errors', 'requests', 'flags'];
  const lines = rows.map((r) => [
    r.name,
    String(r.rps),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    fixed(r.cpuUsPerRequest, 1),
    fixed(r.loadgenCpuUsPerRequest, 1),
    String(r.non2xx),
    String(r.errors),
    String(r.requests),
    warnings(r).join('; '),
  ]);
  return aligned(head, lines);
}

export function ratioTable(rows: readonly Ratio[], names: ReadonlyMap<string, string>): string {
  const head = ['ratio', 'by req/s', 'by cpu', 'paired req/s', 'paired cpu', 'target', ''];
  const lines = rows.map((r) => [
    `${names.get(r.of) ?? r.of} / ${names.get(r.over) ?? r.over}`,
    r.byRps.toFixed(3),
    fixed(r.byCpu, 3),
    r.paired === undefined ? '' : `${r.paired.byRps.toFixed(3)} (${r.paired.pairs})`,
    r.paired === undefined ? '' : fixed(r.paired.byCpu, 3),
    r.atLeast === undefined ? '' : `>= ${r.atLeast.toFixed(2)}`,
    r.met === undefined ? '' : r.met ? 'ok' : 'BELOW',
  ]);
  return aligned(head, lines);
}

function aligned(head: string[], lines: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}
