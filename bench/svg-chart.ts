// The bench's picture (bench/results/latest.svg, shown on the docs' performance page): one
// row per target, ceilings included, with two bars: requests per second (the CPU time per
// request beside the figure) and p99 latency against the 8 ms bound. Hand-written SVG on a
// white ground, so it reads the same on a dark page and needs no charting library.

import { P99_LIMIT_MS, type Figures } from './figures.js';

export interface ChartInput {
  /** One line under the title: when, which commit, which machine, which options. */
  subtitle: string;
  rows: readonly Figures[];
}

const WIDTH = 1040;
const LABEL_WIDTH = 270;
const RPS_X = LABEL_WIDTH + 10;
const RPS_WIDTH = 360;
const P99_X = RPS_X + RPS_WIDTH + 150;
export const P99_WIDTH = WIDTH - P99_X - 50;
/** Where the p99 scale ends at most, so one bad target cannot squeeze the 8 ms line into the axis; longer bars are cut. */
export const P99_SCALE_CAP_MS = 5 * P99_LIMIT_MS;
const TOP = 86;
const ROW = 22;
const BAR = 14;

export const COLOURS = { ceiling: '#9aa5b1', service: '#2f6fb0', over: '#c0392b' } as const;

export function barChart(input: ChartInput): string {
  const { rows } = input;
  const height = TOP + rows.length * ROW + 44;
  const maxRps = Math.max(1, ...rows.map((r) => r.rps));
  // The bound always on the scale, with room past it.
  const maxP99 = Math.min(P99_SCALE_CAP_MS, Math.max(P99_LIMIT_MS * 1.25, ...rows.map((r) => r.p99Ms)));
  const rpsScale = RPS_WIDTH / maxRps;
  const p99Scale = P99_WIDTH / maxP99;
  const limitX = P99_X + P99_LIMIT_MS * p99Scale;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      'font-family="Helvetica, Arial, sans-serif" font-size="12">',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(12, 24, 'matrix-turn-credentials bench: requests per second and p99 latency', 'font-size="15" font-weight="bold"'),
    text(12, 44, input.subtitle, 'fill="#555555"'),
    text(RPS_X, TOP - 12, 'requests per second (µs of CPU per request)', 'font-weight="bold"'),
    text(P99_X, TOP - 12, `p99 latency, ms (line: ${P99_LIMIT_MS} ms)`, 'font-weight="bold"'),
  ];
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    const colour = COLOURS[row.kind];
    const bad = row.non2xx > 0 || row.errors > 0;
    const rpsWidth = row.rps * rpsScale;
    const p99Width = Math.min(row.p99Ms, maxP99) * p99Scale;
    const cpu = row.cpuUsPerRequest === undefined ? '' : ` (${row.cpuUsPerRequest.toFixed(0)} µs)`;
    const failed = bad ? ` ${row.non2xx + row.errors} failed` : '';
    parts.push(
      text(LABEL_WIDTH, y + BAR - 2, row.name, 'text-anchor="end"'),
      rect(RPS_X, y, rpsWidth, colour),
      text(RPS_X + rpsWidth + 4, y + BAR - 2, `${grouped(row.rps)}${cpu}${failed}`, bad ? `fill="${COLOURS.over}"` : ''),
      rect(P99_X, y, p99Width, row.p99Ms >= P99_LIMIT_MS ? COLOURS.over : colour),
      text(P99_X + p99Width + 4, y + BAR - 2, row.p99Ms.toFixed(1)),
    );
  });
  const bottom = TOP + rows.length * ROW;
  parts.push(
    `<line x1="${num(limitX)}" y1="${TOP - 4}" x2="${num(limitX)}" y2="${bottom}" stroke="${COLOURS.over}" stroke-dasharray="4 3"/>`,
    legend(12, bottom + 24),
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

function legend(x: number, y: number): string {
  const items: [string, string][] = [
    [COLOURS.ceiling, 'ceiling (what the same work costs without the service)'],
    [COLOURS.service, 'the service'],
    [COLOURS.over, `p99 at or over ${P99_LIMIT_MS} ms, or failed answers`],
  ];
  let at = x;
  const parts: string[] = [];
  for (const [colour, label] of items) {
    parts.push(`<rect x="${at}" y="${y - 10}" width="12" height="12" fill="${colour}"/>`, text(at + 16, y, label));
    at += 24 + label.length * 6.2;
  }
  return parts.join('\n');
}

function rect(x: number, y: number, width: number, fill: string): string {
  return `<rect x="${num(x)}" y="${y}" width="${num(width)}" height="${BAR}" fill="${fill}"/>`;
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${num(x)}" y="${y}"${attributes === '' ? '' : ` ${attributes}`}>${escapeXml(content)}</text>`;
}

const num = (value: number) => String(Math.round(value * 10) / 10);
const grouped = (value: number) => value.toLocaleString('en-US');

export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
