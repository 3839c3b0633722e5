// One load of one target with autocannon, from this process: each request carries the next
// user's headers (their token, and for the appservice their user id), cycling; the target's
// CPU time from /proc and this process's own are read around it, so the figures say what
// a request cost the target beside how many it answered.

import autocannon, { type Result } from 'autocannon';
import { cpuMicrosPerRequest, type procCpu } from './proc-cpu.js';

export const TURN_PATH = '/_matrix/client/v3/voip/turnServer';

/** The headers of user n's request (0 <= n < count); made before the load where they can be: the load generator shares the machine. */
export interface UserHeaders {
  readonly count: number;
  of(n: number): Readonly<Record<string, string>>;
}

export function listedHeaders(list: readonly Readonly<Record<string, string>>[]): UserHeaders {
  return { count: list.length, of: (n) => list[n]! };
}

export interface LoadSpec {
  url: string;
  /** The target's process, whose CPU time is read; undefined: not read. */
  pid?: number;
  connections: number;
  /** Run for this many seconds, or send `amount` requests. */
  durationSeconds?: number;
  amount?: number;
  headers: UserHeaders;
  /** The first user's index. */
  start?: number;
}

export interface LoadFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  /** Answers by status code, e.g. { "200": 41000, "503": 12 }: what the non-2xx were. */
  statusCodes?: Readonly<Record<string, number>>;
  /** Connection errors and timeouts. */
  errors: number;
  requests: number;
  /** CPU time of the target's process per request served, from /proc. */
  cpuUsPerRequest?: number;
  /** CPU time of the load generator (this process) per request. */
  loadgenCpuUsPerRequest?: number;
}

export async function load(spec: LoadSpec, cpu: ReturnType<typeof procCpu>): Promise<LoadFigures> {
  const { headers } = spec;
  let next = (spec.start ?? 0) % headers.count;
  const ticksBefore = spec.pid === undefined ? undefined : cpu.ticks(spec.pid);
  const ownBefore = process.cpuUsage();
  const result: Result = await autocannon({
    url: `${spec.url}${TURN_PATH}`,
    connections: spec.connections,
    ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.durationSeconds ?? 10 }),
    requests: [
      {
        method: 'GET',
        setupRequest(req) {
          req.headers = headers.of(next);
          next = next + 1 === headers.count ? 0 : next + 1;
          return req;
        },
      },
    ],
  });
  const own = process.cpuUsage(ownBefore);
  const requests = result.requests.total;
  const cpuUs =
    ticksBefore === undefined ? undefined : cpuMicrosPerRequest(ticksBefore, cpu.ticks(spec.pid!), requests, cpu.ticksPerSecond);
  return {
    rps: Math.round(requests / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
    errors: result.errors + result.timeouts,
    requests,
    ...(cpuUs !== undefined && { cpuUsPerRequest: cpuUs }),
    ...(requests > 0 && { loadgenCpuUsPerRequest: (own.user + own.system) / requests }),
  };
}
