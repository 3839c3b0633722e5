// CPU time a process has spent, from /proc/<pid>/stat (utime + stime, in clock ticks):
// what a target costs per request, which the co-located load generator cannot inflate the
// way it can deflate requests per second.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * utime + stime of a /proc/<pid>/stat line, in clock ticks. The command name (field 2) is
 * in parentheses and may itself hold spaces and parentheses, so fields are counted from
 * the last ')'.
 */
export function cpuTicksOfStat(stat: string): number {
  const end = stat.lastIndexOf(')');
  if (end === -1) throw new Error('not a /proc/<pid>/stat line');
  // After ") ": field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
  const fields = stat.slice(end + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('a /proc/<pid>/stat line without utime and stime');
  return utime + stime;
}

/** Microseconds of CPU per request between two readings in ticks; undefined when nothing was served. */
export function cpuMicrosPerRequest(beforeTicks: number, afterTicks: number, requests: number, ticksPerSecond: number): number | undefined {
  if (requests <= 0) return undefined;
  return ((afterTicks - beforeTicks) * 1e6) / ticksPerSecond / requests;
}

/** Reads a process's CPU ticks; ticksPerSecond from getconf CLK_TCK (100 on Linux, used when getconf is missing). */
export function procCpu(): { ticksPerSecond: number; ticks(pid: number): number } {
  let ticksPerSecond = 100;
  try {
    const answer = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(answer) && answer > 0) ticksPerSecond = answer;
  } catch {
    // No getconf: Linux has been 100 for decades.
  }
  return { ticksPerSecond, ticks: (pid) => cpuTicksOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8')) };
}
