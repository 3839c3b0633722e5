// CPU time per request from /proc/<pid>/stat: utime and stime read from the right fields
// whatever the command name holds, and turned into microseconds per request.

import { cpuMicrosPerRequest, cpuTicksOfStat, procCpu } from '../../../bench/proc-cpu.js';

// Fields 3.. after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
const statLine = (name: string, utime: number, stime: number) =>
  `4242 (${name}) S 1 4242 4242 0 -1 4194304 9000 0 12 0 ${utime} ${stime} 7 8 20 0 11 0 1234 5678 90 18446744073709551615`;

describe('CPU time from /proc', () => {
  it('adds utime and stime, not the children’s times beside them', () => {
    expect(cpuTicksOfStat(statLine('node', 1500, 250))).toBe(1750);
  });

  it('counts fields from the last parenthesis, so a name with spaces and parentheses does not shift them', () => {
    expect(cpuTicksOfStat(statLine('node (x) y', 30, 12))).toBe(42);
  });

  it('refuses a line that is not a stat line rather than answer NaN', () => {
    expect(() => cpuTicksOfStat('no parenthesis here')).toThrow('not a /proc/<pid>/stat line');
    expect(() => cpuTicksOfStat('1 (x) S 1')).toThrow('without utime and stime');
  });

  it('gives microseconds per request from two readings and the clock-tick rate', () => {
    // 250 ticks at 100 a second: 2.5 s over 50,000 requests is 50 µs each.
    expect(cpuMicrosPerRequest(1000, 1250, 50_000, 100)).toBe(50);
    expect(cpuMicrosPerRequest(1000, 1250, 0, 100)).toBeUndefined();
  });

  it('reads this process’s own ticks, which grow as it works', () => {
    const cpu = procCpu();
    expect(cpu.ticksPerSecond).toBeGreaterThan(0);
    const before = cpu.ticks(process.pid);
    // Work until the kernel has charged at least one tick more (bounded: a tick is 10 ms).
    const deadline = Date.now() + 5000;
    let after = before;
    let sink = 0;
    while (after === before && Date.now() < deadline) {
      for (let i = 0; i < 1e6; i += 1) sink += i;
      after = cpu.ticks(process.pid);
    }
    expect(sink).toBeGreaterThan(0);
    expect(after).toBeGreaterThan(before);
  });
});
