// The ratios issue 17 asks for, each with its target: the service against the ceilings of
// the same run (throughput is meaningless across runs on a shared machine, a ratio less so),
// and each way of checking a token against the whoami hot path. Each ratio is given twice:
// by requests per second, and by CPU time per request of the two processes, which the
// co-located load generator disturbs less.

import type { Figures } from './figures.js';
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

export interface Ratio extends RatioSpec {
  /** of.rps / over.rps */
  byRps: number;
  /** over's CPU per request / of's: above 1 when `of` costs less a request. */
  byCpu?: number;
  /** Whether byRps meets atLeast; undefined without a target. */
  met?: boolean;
}

/** The ratios whose two targets were both measured. */
export function ratios(figures: ReadonlyMap<string, Figures>, specs: readonly RatioSpec[] = RATIOS): Ratio[] {
  const found: Ratio[] = [];
  for (const spec of specs) {
    const of = figures.get(spec.of);
    const over = figures.get(spec.over);
    if (of === undefined || over === undefined || over.rps === 0) continue;
    const byRps = of.rps / over.rps;
    const byCpu =
      of.cpuUsPerRequest !== undefined && over.cpuUsPerRequest !== undefined && of.cpuUsPerRequest > 0
        ? over.cpuUsPerRequest / of.cpuUsPerRequest
        : undefined;
    found.push({
      ...spec,
      byRps,
      ...(byCpu !== undefined && { byCpu }),
      ...(spec.atLeast !== undefined && { met: byRps >= spec.atLeast }),
    });
  }
  return found;
}
