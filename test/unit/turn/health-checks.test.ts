// The health checks' schedule and picture (src/turn/health-checks.ts), with a probe the
// test answers and a manual clock: what the request path reads after each round, what is
// logged and counted, what /readyz says. Real probes of real coturn processes are in
// test/integration/turn-health.test.ts.

import { Registry } from 'prom-client';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { createTurnHealthChecks, type HealthCheckTarget } from '../../../src/turn/health-checks.js';
import type { ProbeOptions, ProbeResult } from '../../../src/turn/probe/probe-uri.js';
import { manualClock } from '../../helpers/clock.js';
import { captureLogs } from '../../helpers/logs.js';

const UP: ProbeResult = { ok: true, resolved: { address: '192.0.2.1', port: 3478, family: 4 } };
const down = (reason: 'timeout' | 'unauthorized' | 'refused', detail = `said ${reason}`): ProbeResult => ({
  ok: false,
  reason,
  step: 'allocate',
  detail,
});

function setUp(targets: HealthCheckTarget[], options: { intervalMs?: number; maxInFlight?: number } = {}) {
  const clock = manualClock();
  const logs = captureLogs();
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const answers = new Map<string, ProbeResult>();
  const calls: { uri: string; options: ProbeOptions }[] = [];
  const pending: (() => void)[] = [];
  let holding = false;
  const probe = (uri: string, probeOptions: ProbeOptions): Promise<ProbeResult> => {
    calls.push({ uri, options: probeOptions });
    const answer = answers.get(uri) ?? UP;
    if (!holding) return Promise.resolve(answer);
    return new Promise((resolve) => pending.push(() => resolve(answer)));
  };
  const checks = createTurnHealthChecks(
    targets,
    { intervalMs: options.intervalMs ?? 30_000, timeoutMs: 2000, maxInFlight: options.maxInFlight ?? 8 },
    { probe, clock, timers: clock, logger: createLogger('debug', logs.stream), metrics },
  );
  return {
    clock,
    logs,
    metrics,
    answers,
    calls,
    checks,
    hold: () => (holding = true),
    releaseAll: () => pending.splice(0).forEach((release) => release()),
    pendingProbes: () => pending.length,
  };
}

const target = (name: string, uris: string[], credential = { username: '1700000000:@turn-health-check:example.org', password: 'pw' }) => ({
  name,
  uris,
  probeCredential: (uriIndex: number) => ({ ...credential, username: `${credential.username}#${uriIndex}` }),
});

/** Lets the probes' answers (already settled promises) be taken in. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('TURN health checks', () => {
  it('count every URI as usable before the first check, and leave out a URI that failed until a check passes again', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org?transport=udp', 'turns:eu.example.org:5349'])]);
    expect(t.checks.snapshot().servers[0]!.usableUris).toEqual(['turn:eu.example.org?transport=udp', 'turns:eu.example.org:5349']);

    t.answers.set('turns:eu.example.org:5349', down('timeout'));
    await t.checks.checkNow();
    expect(t.checks.snapshot().servers[0]!.usableUris).toEqual(['turn:eu.example.org?transport=udp']);

    t.answers.delete('turns:eu.example.org:5349');
    await t.checks.checkNow();
    expect(t.checks.snapshot().servers[0]!.usableUris).toEqual(['turn:eu.example.org?transport=udp', 'turns:eu.example.org:5349']);
  });

  it('run a round at start and one every interval, on the injected timers', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org'])], { intervalMs: 30_000 });
    t.checks.start();
    await settle();
    expect(t.calls).toHaveLength(1);
    t.clock.advance(29_999);
    await settle();
    expect(t.calls).toHaveLength(1);
    t.clock.advance(1);
    await settle();
    expect(t.calls).toHaveLength(2);
    await t.checks.close();
    t.clock.advance(60_000);
    expect(t.calls).toHaveLength(2);
  });

  it('run nothing with an interval of 0, and say so in /readyz', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org'])], { intervalMs: 0 });
    t.checks.start();
    t.clock.advance(3_600_000);
    await settle();
    expect(t.calls).toHaveLength(0);
    expect(t.checks.status()).toMatchObject({ ready: true, degraded: false, detail: expect.stringContaining('health checks off') });
    expect(await t.metrics.registry.getSingleMetricAsString('matrix_turn_server_check_failures_total')).not.toMatch(/server="eu"/);
  });

  it('probe turn: URIs with the credential minted for the probe user, and stun: URIs with none', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org', 'stun:eu.example.org'])]);
    await t.checks.checkNow();
    expect(t.calls.map((call) => [call.uri, call.options.credential?.username, call.options.timeoutMs])).toEqual([
      ['turn:eu.example.org', '1700000000:@turn-health-check:example.org#0', 2000],
      ['stun:eu.example.org', undefined, 2000],
    ]);
  });

  it('keep at most maxInFlight probes running, and never start a second probe of a URI still being checked', async () => {
    const uris = Array.from({ length: 5 }, (_, i) => `turn:t${i}.example.org`);
    const t = setUp([target('many', uris)], { maxInFlight: 2 });
    t.hold();
    const first = t.checks.checkNow();
    await settle();
    expect(t.pendingProbes()).toBe(2);
    const second = t.checks.checkNow();
    await settle();
    // The second round skips the five already queued or running in the first.
    expect(t.calls).toHaveLength(2);
    while (t.pendingProbes() > 0) {
      t.releaseAll();
      await settle();
    }
    await Promise.all([first, second]);
    expect(t.calls.map((call) => call.uri)).toEqual(uris);
  });

  it('log a change of state once, with the reason; not the same state again', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org'])]);
    t.answers.set('turn:eu.example.org', down('unauthorized', 'the server refused the credential (401 Unauthorized)'));
    await t.checks.checkNow();
    await t.checks.checkNow();
    t.answers.delete('turn:eu.example.org');
    await t.checks.checkNow();
    await t.checks.checkNow();
    const changes = t.logs.entries().filter((entry) => entry.uri === 'turn:eu.example.org' && entry.level !== 'debug');
    expect(changes.map((entry) => [entry.level, entry.reason])).toEqual([
      ['warn', 'unauthorized'],
      ['info', undefined],
    ]);
    expect(changes[0]!.msg).toContain('the server refused the credential');
    expect(t.logs.text()).not.toContain('"pw"');
  });

  it('export up/down per URI, failures by reason and the duration of each check', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org', 'turns:eu.example.org'])]);
    t.answers.set('turns:eu.example.org', down('refused'));
    await t.checks.checkNow();
    const text = await t.metrics.registry.metrics();
    expect(text).toContain('matrix_turn_server_up{server="eu",uri="turn:eu.example.org"} 1');
    expect(text).toContain('matrix_turn_server_up{server="eu",uri="turns:eu.example.org"} 0');
    expect(text).toContain('matrix_turn_server_check_failures_total{server="eu",reason="refused"} 1');
    expect(text).toContain('matrix_turn_server_check_failures_total{server="eu",reason="timeout"} 0');
    expect(text).toContain('matrix_turn_server_check_duration_seconds_count{server="eu"} 2');
  });

  it('report each server and URI in /readyz with its state and reason, degraded only when every server is down', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org']), target('us', ['turn:us.example.org'])]);
    t.answers.set('turn:eu.example.org', down('timeout', 'no answer within 2000 ms'));
    await t.checks.checkNow();
    expect(t.checks.status()).toMatchObject({
      ready: true,
      degraded: false,
      detail: '1 of 2 TURN servers up',
      servers: [
        {
          name: 'eu',
          state: 'down',
          uris: [{ uri: 'turn:eu.example.org', state: 'down', reason: 'timeout', detail: 'no answer within 2000 ms' }],
        },
        { name: 'us', state: 'up', uris: [{ uri: 'turn:us.example.org', state: 'up' }] },
      ],
    });
    t.answers.set('turn:us.example.org', down('refused'));
    await t.checks.checkNow();
    expect(t.checks.snapshot().allDown).toBe(true);
    expect(t.checks.status()).toMatchObject({ ready: true, degraded: true });
  });

  it('keep the same picture object while nothing changes, so what selection derives from it is kept', async () => {
    const t = setUp([target('eu', ['turn:eu.example.org'])]);
    await t.checks.checkNow();
    const before = t.checks.snapshot();
    await t.checks.checkNow();
    expect(t.checks.snapshot()).toBe(before);
    t.answers.set('turn:eu.example.org', down('timeout'));
    await t.checks.checkNow();
    expect(t.checks.snapshot()).not.toBe(before);
  });
});
