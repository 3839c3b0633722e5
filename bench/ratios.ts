// The ratios issue 17 asks for, each with its target: the service against the ceilings of
// the same run (throughput is meaningless across runs on a shared machine, a ratio less so),
// and each way of checking a token against the whoami hot path. Each ratio is given twice:
// by requests per second, and by CPU time per request of the two processes, which the
// co-located load generator disturbs less. And each is measured again "paired": the two
// targets loaded back to back, several times in alternation, the median of each pair's own
// ratio. This machine's speed drifts by 15-30 % over tens of seconds (one target loaded 12
// times in a row: 20050 to 26883 req/s, 35.8 to 46.7 µs a request), so two best-ofs taken
// a minute apart in a full run carry that drift; a pair taken seconds apart shares more of
// it (a pair still varies by 10-15 %, so it is the median of several that counts). The
// target is held to the paired figure when there is one.

import { median } from './ab-summary.js';
import { clean, type Figures } from './figures.js';
import type { TargetId } from './options.js';

export interface RatioSpec {
  of: TargetId;
  over: TargetId;
  /** The ratio must be at least this; undefined: shown for information. */
  atLeast?: number;
  why: string;
}

export const RATIOS: readonly RatioSpec[] = [
  { of: 'redis', over: 'koa', atLeast: 0.7, why: 'Redis limiter against the framework alone' },
  { of: 'in-process', over: 'koa', atLeast: 0.7, why: 'in-process limiter against the framework alone' },
  { of: 'in-process', over: 'redis', atLeast: 1.0, why: 'the embedded default at least as fast as Redis' },
  { of: 'redis', over: 'sketch', atLeast: 1.0, why: 'all the service adds costs nothing (Redis)' },
  { of: 'in-process', over: 'sketch', atLeast: 1.0, why: 'all the service adds costs nothing (in-process)' },
  { of: 'redis', over: 'bare', why: 'against bare node:http' },
  { of: 'whoami-cold', over: 'whoami-ceiling', atLeast: 0.9, why: 'cold whoami against one undici call per request' },
  { of: 'introspection-cold', over: 'introspection-ceiling', atLeast: 0.9, why: 'cold introspection against one undici call' },
  { of: 'jwt-cold', over: 'jwt-ceiling', atLeast: 0.9, why: 'cold jwt against one jose verification per request' },
  { of: 'jwt-hot', over: 'in-process', atLeast: 0.95, why: 'jwt hot within 5 % of whoami hot' },
  { of: 'introspection-hot', over: 'in-process', atLeast: 0.95, why: 'introspection hot within 5 % of whoami hot' },
  { of: 'appservice', over: 'in-process', atLeast: 0.95, why: 'appservice within 5 % of whoami hot' },
  { of: 'whoami-cold', over: 'in-process', why: 'cold against cached: for sizing TOKEN_CACHE_TTL' },
];

/** A ratio from loads of its two targets back to back: the median of each pair's own ratio. */
export interface PairedRatio {
  byRps: number;
  byCpu?: number;
  /** The pairs the medians are of: those in which neither load had a failed answer. */
  pairs: number;
}

export interface Ratio extends RatioSpec {
  /** of.rps / over.rps, of each target's best round. */
  byRps: number;
  /** over's CPU per request / of's: above 1 when `of` costs less a request. */
  byCpu?: number;
  paired?: PairedRatio;
  /** Whether the paired byRps (or, unpaired, byRps) meets atLeast; undefined without a target. */
  met?: boolean;
}

/** The key of a ratio's pairs in the map ratios() reads them from. */
export const pairKey = (spec: Pick<RatioSpec, 'of' | 'over'>) => `${spec.of}/${spec.over}`;

const cpuRatio = (of: Figures, over: Figures) =>
  of.cpuUsPerRequest !== undefined && over.cpuUsPerRequest !== undefined && of.cpuUsPerRequest > 0
    ? over.cpuUsPerRequest / of.cpuUsPerRequest
    : undefined;

/**
 * The ratios whose two targets were both measured, each from the targets' best rounds and,
 * where `pairs` holds the loads of its two targets back to back (of[i] beside over[i]), paired.
 */
export function ratios(
  figures: ReadonlyMap<string, Figures>,
  specs: readonly RatioSpec[] = RATIOS,
  pairs: ReadonlyMap<string, { of: readonly Figures[]; over: readonly Figures[] }> = new Map(),
): Ratio[] {
  const found: Ratio[] = [];
  for (const spec of specs) {
    const of = figures.get(spec.of);
    const over = figures.get(spec.over);
    if (of === undefined || over === undefined || over.rps === 0) continue;
    const byRps = of.rps / over.rps;
    const byCpu = cpuRatio(of, over);
    const loads = pairs.get(pairKey(spec));
    const paired = loads === undefined ? undefined : pairedRatio(loads.of, loads.over);
    found.push({
      ...spec,
      byRps,
      ...(byCpu !== undefined && { byCpu }),
      ...(paired !== undefined && { paired }),
      ...(spec.atLeast !== undefined && { met: (paired?.byRps ?? byRps) >= spec.atLeast }),
    });
  }
  return found;
}

/** of[i] against over[i], loaded back to back; undefined when no pair is clean of failed answers. */
export function pairedRatio(of: readonly Figures[], over: readonly Figures[]): PairedRatio | undefined {
  const usable = (f: Figures | undefined): f is Figures => f !== undefined && clean(f) && f.rps > 0;
  const kept = of.flatMap((x, i) => (usable(x) && usable(over[i]) ? [[x, over[i]] as const] : []));
  if (kept.length === 0) return undefined;
  const cpu = kept.map(([x, y]) => cpuRatio(x, y)).filter((v): v is number => v !== undefined);
  return {
    byRps: median(kept.map(([x, y]) => x.rps / y.rps)),
    ...(cpu.length > 0 && { byCpu: median(cpu) }),
    pairs: kept.length,
  };
}
