// Waiting for a service to finish the upstream calls a load left behind. A load ends when
// its time is up, not when the service's last upstream call does; the next load stops
// every other target (SIGSTOP), and a service stopped mid-call finds each such call's
// deadline long past when it is resumed: up to 64 timeouts at once, which open the
// upstream's breaker and turn its next round into 503s (seen: a whoami cold round of
// 9,564 answers, all 503, with no upstream call counted during it).

const IN_FLIGHT = /^matrix_turn_upstream_requests_in_flight(?:\{[^}]*\})? (\S+)$/;

/** The upstream calls in flight, over every upstream, in a Prometheus text exposition. */
export function upstreamCallsInFlight(exposition: string): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    const match = IN_FLIGHT.exec(line);
    if (match) total += Number(match[1]);
  }
  return total;
}

export interface IdleWait {
  /** Reads the service's /metrics. */
  read(): Promise<string>;
  /** Resolves after the given milliseconds: the pause between two readings. */
  pause(ms: number): Promise<void>;
  /** Readings before giving up; the calls' own deadline ends them in the end anyway. */
  maxReadings?: number;
}

/** Whether the service came to no upstream call in flight within its readings. */
export async function untilNoUpstreamCall(wait: IdleWait): Promise<boolean> {
  const maxReadings = wait.maxReadings ?? 100;
  for (let reading = 1; reading <= maxReadings; reading += 1) {
    if (upstreamCallsInFlight(await wait.read()) === 0) return true;
    if (reading < maxReadings) await wait.pause(10);
  }
  return false;
}
