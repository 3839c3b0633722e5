// An A/B run's proof that the "with health checks" side checked: the TURN health-check
// series of the service's /metrics summed, other series and comments left alone.

import { describeHealthChecks, healthCheckFigures } from '../../../bench/health-check-figures.js';

const exposition = [
  '# HELP matrix_turn_server_up 1 while the last health check passed',
  '# TYPE matrix_turn_server_up gauge',
  'matrix_turn_server_up{server="default",uri="turn:127.0.0.1:3478?transport=udp"} 1',
  'matrix_turn_server_up{server="default",uri="turn:127.0.0.1:3478?transport=tcp"} 0',
  'matrix_turn_server_check_duration_seconds_bucket{le="0.005",server="default"} 7',
  'matrix_turn_server_check_duration_seconds_sum{server="default"} 0.12',
  'matrix_turn_server_check_duration_seconds_count{server="default"} 12',
  'matrix_turn_server_check_duration_seconds_count{server="backup"} 3',
  'matrix_turn_server_check_failures_total{server="default",reason="refused"} 2',
  'matrix_turn_credentials_issued_total 900',
].join('\n');

test('sums checks and failures over servers and counts the URIs up and down', () => {
  const figures = healthCheckFigures(exposition);
  expect(figures).toEqual({ checks: 15, failures: 2, urisUp: 1, urisDown: 1 });
  expect(describeHealthChecks(figures)).toBe('15 health checks, 2 failed; URIs up 1, down 1');
});

test('finds none in a service whose checks are off', () => {
  expect(healthCheckFigures('matrix_turn_credentials_issued_total 900\n')).toEqual({ checks: 0, failures: 0, urisUp: 0, urisDown: 0 });
});
