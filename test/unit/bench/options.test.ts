// The bench's command line: defaults, the choice of targets, the extra service environment
// (values with commas in them), and a typo refused before a long run starts.

import { describeEnv, parseEnvList, parseOptions, TARGET_IDS } from '../../../bench/options.js';

describe('the bench options', () => {
  it('runs every target, 2 rounds of 10 s at 64 connections over 5,000 users by default', () => {
    const options = parseOptions([]);
    expect(options).toMatchObject({ mode: 'hot', durationSeconds: 10, rounds: 2, connections: 64, users: 5000, withHealthChecks: false });
    expect(options.targets).toEqual(TARGET_IDS);
  });

  it('pairs each ratio’s targets 6 times for 3 s unless told otherwise; --pairs=0 leaves the pairs out', () => {
    expect(parseOptions([])).toMatchObject({ pairs: 6, pairSeconds: 3 });
    expect(parseOptions(['--pairs=0', '--pair-duration=2'])).toMatchObject({ pairs: 0, pairSeconds: 2 });
    expect(() => parseOptions(['--pairs=-1'])).toThrow('--pairs must be a whole number of at least 0, not -1');
    expect(() => parseOptions(['--pair-duration=0'])).toThrow('--pair-duration must be a whole number of at least 1, not 0');
  });

  it('selects targets, in the catalogue’s order whatever order they are named in', () => {
    expect(parseOptions(['--targets=jwt-cold,koa']).targets).toEqual(['koa', 'jwt-cold']);
  });

  it('refuses an unknown target or option, naming the choices', () => {
    expect(() => parseOptions(['--targets=koa,jtw-hot'])).toThrow(/unknown target jtw-hot; targets: bare,koa,sketch/);
    expect(() => parseOptions(['--durations=2'])).toThrow(/unknown option --durations=2; known: --mode --duration/);
    expect(() => parseOptions(['--duration=0'])).toThrow('--duration must be a whole number of at least 1, not 0');
  });

  it('reads --service-env pairs, a value keeping its own commas', () => {
    const options = parseOptions(['--service-env=TURN_URIS=turn:a:3478,turn:b:3478,LOG_LEVEL=warn', '--with-health-checks']);
    expect(options.serviceEnv).toEqual({ TURN_URIS: 'turn:a:3478,turn:b:3478', LOG_LEVEL: 'warn' });
    expect(options.withHealthChecks).toBe(true);
    expect(() => parseEnvList('=x', '--service-env')).toThrow('--service-env: "=x" is not NAME=value');
  });

  it('passes --service-node-args to node before the service script, split at spaces', () => {
    expect(parseOptions([]).serviceNodeArgs).toEqual([]);
    expect(parseOptions(['--service-node-args=--cpu-prof  --cpu-prof-dir=/tmp/prof']).serviceNodeArgs).toEqual([
      '--cpu-prof',
      '--cpu-prof-dir=/tmp/prof',
    ]);
  });

  it('makes --ab an A/B run of 5 rounds unless told otherwise; --ab=env needs what side B adds, --ab=build the other checkout', () => {
    expect(parseOptions(['--ab=health'])).toMatchObject({ mode: 'ab', ab: 'health', rounds: 5 });
    expect(parseOptions(['--ab=health', '--rounds=3']).rounds).toBe(3);
    expect(() => parseOptions(['--ab=env'])).toThrow('--ab=env needs --ab-env');
    expect(parseOptions(['--ab=env', '--ab-env=TURN_HEALTH_CHECK_INTERVAL=1']).abEnv).toEqual({ TURN_HEALTH_CHECK_INTERVAL: '1' });
    expect(() => parseOptions(['--ab=cache'])).toThrow('--ab must be health, env or build, not cache');
    expect(() => parseOptions(['--ab=build'])).toThrow('--ab=build needs --ab-root');
    expect(parseOptions(['--ab=build', '--ab-root=/tmp/before'])).toMatchObject({ mode: 'ab', ab: 'build', abRoot: '/tmp/before' });
  });

  it('masks the values of secrets when describing the environment', () => {
    expect(describeEnv({ TURN_SHARED_SECRET: 's3cret', APPSERVICE_HS_TOKEN: 't', LOG_LEVEL: 'warn' })).toEqual({
      TURN_SHARED_SECRET: '***',
      APPSERVICE_HS_TOKEN: '***',
      LOG_LEVEL: 'warn',
    });
  });
});
