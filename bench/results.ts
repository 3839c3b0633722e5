// The run written down: bench/results/latest.json (the machine, Node, the commit, the
// date, the options, every target's figures and every ratio) and latest.svg, the chart the
// docs' performance page shows. The JSON is formatted as the repository's prettier would,
// so a committed result passes `prettier --check`.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { warnings, type Figures } from './figures.js';
import type { PairedRatio, Ratio } from './ratios.js';
import { barChart } from './svg-chart.js';

export interface Machine {
  cpuModel: string;
  cpuCount: number;
  node: string;
  kernel: string;
}

export interface Provenance {
  machine: Machine;
  commit: string;
  /** Whether tracked files differed from the commit when the bench ran. */
  uncommittedChanges: boolean;
  date: string;
}

export function provenance(root: string): Provenance {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  };
  return {
    machine: { cpuModel: cpus()[0]?.model ?? 'unknown', cpuCount: cpus().length, node: process.version, kernel: release() },
    commit: git('rev-parse', 'HEAD') ?? 'unknown',
    uncommittedChanges: (git('status', '--porcelain', '--untracked-files=no') ?? '') !== '',
    date: new Date().toISOString(),
  };
}

export interface RunRecord extends Provenance {
  options: Record<string, unknown>;
  targets: readonly Figures[];
  ratios: readonly Ratio[];
}

/** One line saying where the figures come from, under the chart's title. */
export function subtitle(record: RunRecord): string {
  const { machine, options } = record;
  const commit = `${record.commit.slice(0, 10)}${record.uncommittedChanges ? ' (with changes)' : ''}`;
  const how = `${String(options.connections)} connections, ${String(options.durationSeconds)} s, best of ${String(options.rounds)}`;
  const when = `${record.date.slice(0, 16).replace('T', ' ')} UTC`;
  return `${when} · ${commit} · node ${machine.node} · ${machine.cpuCount} × ${machine.cpuModel} · ${how}`;
}

export async function writeResults(dir: string, record: RunRecord): Promise<{ json: string; svg: string }> {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'latest.json');
  const svg = join(dir, 'latest.svg');
  const document = {
    ...record,
    targets: record.targets.map((t) => ({
      ...t,
      ...(t.cpuUsPerRequest !== undefined && { cpuUsPerRequest: rounded(t.cpuUsPerRequest, 1) }),
      ...(t.loadgenCpuUsPerRequest !== undefined && { loadgenCpuUsPerRequest: rounded(t.loadgenCpuUsPerRequest, 1) }),
      warnings: warnings(t),
    })),
    ratios: record.ratios.map((r) => ({
      ...r,
      byRps: rounded(r.byRps, 3),
      ...(r.byCpu !== undefined && { byCpu: rounded(r.byCpu, 3) }),
      ...(r.paired !== undefined && { paired: roundedPaired(r.paired) }),
    })),
  };
  writeFileSync(json, await formatted(json, JSON.stringify(document, null, 2)));
  writeFileSync(svg, barChart({ subtitle: subtitle(record), rows: record.targets }));
  return { json, svg };
}

const rounded = (value: number, digits: number) => Number(value.toFixed(digits));
const roundedPaired = (p: PairedRatio): PairedRatio => ({
  ...p,
  byRps: rounded(p.byRps, 3),
  ...(p.byCpu !== undefined && { byCpu: rounded(p.byCpu, 3) }),
});

/** As `prettier --write` would leave it; unformatted when prettier (a devDependency) is not there. */
export async function formatted(file: string, text: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    return await prettier.format(text, { ...(await prettier.resolveConfig(file)), filepath: file });
  } catch {
    return `${text}\n`;
  }
}
