// Whether a service's TURN health checks really ran during a run, read from its /metrics:
// how many checks it made, how many failed, and how many URIs the last check found up. An
// A/B "with health checks" side that made none would compare nothing.

export interface HealthCheckFigures {
  checks: number;
  failures: number;
  urisUp: number;
  urisDown: number;
}

/** Sums the TURN health-check series of a Prometheus text exposition. */
export function healthCheckFigures(exposition: string): HealthCheckFigures {
  const figures: HealthCheckFigures = { checks: 0, failures: 0, urisUp: 0, urisDown: 0 };
  for (const line of exposition.split('\n')) {
    const match = /^(matrix_turn_server_\w+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (match[1] === 'matrix_turn_server_check_duration_seconds_count') figures.checks += value;
    else if (match[1] === 'matrix_turn_server_check_failures_total') figures.failures += value;
    else if (match[1] === 'matrix_turn_server_up') figures[value === 1 ? 'urisUp' : 'urisDown'] += 1;
  }
  return figures;
}

export async function healthChecksOf(metricsUrl: string): Promise<HealthCheckFigures> {
  const res = await fetch(metricsUrl);
  return healthCheckFigures(await res.text());
}

export function describeHealthChecks(f: HealthCheckFigures): string {
  return `${f.checks} health checks, ${f.failures} failed; URIs up ${f.urisUp}, down ${f.urisDown}`;
}
