// The circuit breaker's states, driven by a hand-moved clock: it opens after the threshold
// of consecutive failures, fails fast while open, lets exactly one probe through once the
// reset period has passed, and closes or re-opens on the probe's outcome.

import { createBreaker, type Admission, type BreakerOptions } from '../../../src/auth/breaker.js';
import { manualClock } from '../../helpers/clock.js';

function admitted(admission: Admission): Extract<Admission, { admitted: true }> {
  if (!admission.admitted) throw new Error(`refused, retry after ${admission.retryAfterMs} ms`);
  return admission;
}

function setup(overrides: Partial<BreakerOptions> = {}) {
  const clock = manualClock();
  const changes: boolean[] = [];
  const breaker = createBreaker({ failureThreshold: 3, resetMs: 5000, clock, onChange: (open) => changes.push(open), ...overrides });
  const fail = (times: number) => {
    for (let i = 0; i < times; i++) admitted(breaker.admit()).settle('failure');
  };
  return { clock, breaker, changes, fail };
}

describe('circuit breaker', () => {
  test('stays closed below the threshold, and a success resets the count', () => {
    const { breaker, changes, fail } = setup();
    fail(2);
    admitted(breaker.admit()).settle('success');
    fail(2);
    expect(breaker.state).toBe('closed');
    expect(breaker.admit().admitted).toBe(true);
    expect(changes).toEqual([]);
  });

  test('opens after the threshold of consecutive failures and refuses with the time left', () => {
    const { breaker, clock, changes, fail } = setup();
    fail(3);
    expect(breaker.state).toBe('open');
    expect(changes).toEqual([true]);
    expect(breaker.admit()).toEqual({ admitted: false, retryAfterMs: 5000 });
    clock.advance(3999);
    expect(breaker.admit()).toEqual({ admitted: false, retryAfterMs: 1001 });
  });

  test('half-open after the reset period: exactly one probe, the rest refused', () => {
    const { breaker, clock, fail } = setup();
    fail(3);
    clock.advance(5000);
    expect(breaker.state).toBe('half-open');
    const probe = admitted(breaker.admit());
    expect(breaker.admit().admitted).toBe(false);
    expect(breaker.admit().admitted).toBe(false);
    probe.settle('success');
    expect(breaker.state).toBe('closed');
    expect(breaker.admit().admitted).toBe(true);
  });

  test('a failed probe opens the breaker for another full period', () => {
    const { breaker, clock, changes, fail } = setup();
    fail(3);
    clock.advance(6000);
    admitted(breaker.admit()).settle('failure');
    expect(breaker.state).toBe('open');
    expect(breaker.admit()).toEqual({ admitted: false, retryAfterMs: 5000 });
    clock.advance(5000);
    admitted(breaker.admit()).settle('success');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([true, false]);
  });

  test('a neutral probe (one that never reached the upstream) lets the next caller probe', () => {
    const { breaker, clock, fail } = setup();
    fail(3);
    clock.advance(5000);
    admitted(breaker.admit()).settle('neutral');
    expect(breaker.state).toBe('half-open');
    admitted(breaker.admit()).settle('success');
    expect(breaker.state).toBe('closed');
  });

  test('outcomes of calls admitted before the breaker opened do not move it', () => {
    const { breaker, clock, fail } = setup();
    const slowSuccess = admitted(breaker.admit());
    const slowFailure = admitted(breaker.admit());
    fail(3);
    slowSuccess.settle('success');
    expect(breaker.state).toBe('open');
    clock.advance(5000);
    const probe = admitted(breaker.admit());
    slowFailure.settle('failure');
    expect(breaker.state).toBe('half-open');
    expect(breaker.admit().admitted).toBe(false);
    probe.settle('success');
    expect(breaker.state).toBe('closed');
  });

  test('settling twice counts once', () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const call = admitted(breaker.admit());
    call.settle('failure');
    call.settle('failure');
    expect(breaker.state).toBe('closed');
  });

  test('a threshold of one opens on the first failure', () => {
    const { breaker, fail } = setup({ failureThreshold: 1 });
    fail(1);
    expect(breaker.state).toBe('open');
  });
});
