// What one measured load of one target gave, and what in it is a warning sign: the issue's
// bounds for every target are a p99 under 8 ms at 64 connections and no answer but 2xx.

import type { LoadFigures } from './load.js';

export type TargetKind = 'ceiling' | 'service';

/** One load's figures (load.ts), with the target they are of. */
export interface Figures extends LoadFigures {
  /** The target's id (its --targets name). */
  id: string;
  /** What the table and the chart call it. */
  name: string;
  kind: TargetKind;
}

export const P99_LIMIT_MS = 8;

/** Whether every answer of the load was a 2xx and no connection failed. */
export const clean = (figures: Figures) => figures.non2xx + figures.errors === 0;

/** Each bound the figures break, in words; empty when none. */
export function warnings(figures: Figures): string[] {
  const found: string[] = [];
  if (figures.p99Ms >= P99_LIMIT_MS) found.push(`p99 ${figures.p99Ms} ms >= ${P99_LIMIT_MS}`);
  if (figures.non2xx > 0) found.push(`${figures.non2xx} non-2xx`);
  if (figures.errors > 0) found.push(`${figures.errors} errors`);
  return found;
}
