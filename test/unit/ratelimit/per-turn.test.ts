// Decisions taken at the end of the turn (src/ratelimit/per-turn.ts): every key asked in one
// turn decided together, in the order asked, with one scheduling of the turn's end.

import { decidedPerTurn } from '../../../src/ratelimit/per-turn.js';
import { ALLOWED, type RateDecision } from '../../../src/ratelimit/types.js';

describe('decisions per turn', () => {
  it("are taken when the turn ends, all of that turn's together, in the order they were asked", async () => {
    const turnEnds: (() => void)[] = [];
    const decided: string[] = [];
    const consume = decidedPerTurn(
      (key): RateDecision => {
        decided.push(key);
        return key === '@bob:example.org' ? { allowed: false, retryAfterMs: 500 } : ALLOWED;
      },
      (callback) => turnEnds.push(callback),
    );
    const answers = ['@ann:example.org', '@bob:example.org', '@cy:example.org'].map((key) => consume(key));
    expect(decided).toEqual([]);
    expect(turnEnds).toHaveLength(1);
    turnEnds.shift()!();
    expect(await Promise.all(answers)).toEqual([ALLOWED, { allowed: false, retryAfterMs: 500 }, ALLOWED]);
    expect(decided).toEqual(['@ann:example.org', '@bob:example.org', '@cy:example.org']);

    const next = consume('@ann:example.org');
    expect(turnEnds).toHaveLength(1);
    turnEnds.shift()!();
    expect(await next).toEqual(ALLOWED);
  });

  it('run on setImmediate by default', async () => {
    const consume = decidedPerTurn(() => ALLOWED);
    expect(await consume('@ann:example.org')).toBe(ALLOWED);
  });
});
