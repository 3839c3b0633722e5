// Provider entries in the selection (src/turn/selection.ts): always a candidate, their own
// URIs in the answer, the checks' picture holding only the other servers; when the chosen
// provider fails, the next candidate answers, in the order the user's server is chosen
// in; when none is left, 503 M_UNKNOWN with Retry-After.

import { MatrixError } from '../../../../src/errors.js';
import type { CredentialMinter, MaybeAsyncMinter, TurnCredentials } from '../../../../src/turn/credentials.js';
import type { TurnHealthSnapshot } from '../../../../src/turn/health-checks.js';
import { ProviderFailure } from '../../../../src/turn/providers/provider.js';
import { selectingMinter, type SelectableServer } from '../../../../src/turn/selection.js';

type Server = SelectableServer<MaybeAsyncMinter>;

function own(name: string, uris: string[]): Server {
  const minter: CredentialMinter = { mint: (userId) => ({ username: `${name}:${userId}`, password: `${name}-pw`, uris, ttl: 3600 }) };
  return { name, uris, minter };
}

/** A provider whose calls fail while `failing` holds a failure. */
function provider(name: string): Server & { failing?: ProviderFailure; calls: number } {
  const server = {
    name,
    uris: [] as string[],
    unchecked: true,
    calls: 0,
    failing: undefined as ProviderFailure | undefined,
    minter: {
      mint: async (userId: string): Promise<TurnCredentials> => {
        server.calls += 1;
        if (server.failing) throw server.failing;
        return { username: `${name}:${userId}`, password: `${name}-pw`, uris: [`turn:${name}.provider.example`], ttl: 1800 };
      },
    },
  };
  return server;
}

/** Every checked server up, or those named down. */
function picture(servers: readonly Server[], down: readonly string[] = []): TurnHealthSnapshot {
  const checked = servers.filter((server) => server.unchecked !== true);
  const healths = checked.map((server) => ({
    name: server.name,
    uris: server.uris.map((uri) => ({ uri, state: 'up' as const, checkedAtMs: 0 })),
    usableUris: down.includes(server.name) ? [] : server.uris,
  }));
  return { servers: healths, allDown: healths.every((server) => server.usableUris.length === 0) };
}

async function failureOf(promise: unknown): Promise<MatrixError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MatrixError) return error;
    throw error;
  }
  throw new Error('resolved');
}

describe('a provider entry in the selection', () => {
  it('answers with the URIs it gave, and the checked servers after it keep their place in the picture', async () => {
    const cf = provider('cf');
    const servers = [cf, own('eu', ['turn:eu.example.org']), own('us', ['turn:us.example.org'])];
    const minter = selectingMinter(servers, 'first', () => picture(servers));
    await expect(minter.mint('@ann:x')).resolves.toEqual({
      username: 'cf:@ann:x',
      password: 'cf-pw',
      uris: ['turn:cf.provider.example'],
      ttl: 1800,
    });
    cf.failing = new ProviderFailure('unavailable', 'provider:cf answered HTTP 500');
    const down = selectingMinter(servers, 'first', () => picture(servers, ['eu']));
    await expect(down.mint('@ann:x')).resolves.toMatchObject({ username: 'us:@ann:x', uris: ['turn:us.example.org'] });
  });

  it.each([
    ['500', new ProviderFailure('unavailable', 'provider:cf answered HTTP 500')],
    ['a timeout', new ProviderFailure('timeout', 'provider:cf did not answer within 5000 ms')],
    ['a refused key', new ProviderFailure('refused', 'HTTP 401, our key was refused')],
    ['nonsense', new ProviderFailure('bad_answer', 'HTTP 201 without a JSON body')],
  ])('falls through to the next server on %s', async (_what, failure) => {
    const cf = provider('cf');
    cf.failing = failure;
    const servers = [cf, own('coturn', ['turn:coturn.example.org'])];
    const minter = selectingMinter(servers, 'first', () => picture(servers));
    await expect(minter.mint('@ann:x')).resolves.toEqual({
      username: 'coturn:@ann:x',
      password: 'coturn-pw',
      uris: ['turn:coturn.example.org'],
      ttl: 3600,
    });
  });

  it('tries each provider in turn, then answers 503 M_UNKNOWN with the soonest Retry-After when none is left', async () => {
    const cf = provider('cf');
    const tw = provider('tw');
    cf.failing = new ProviderFailure('unavailable', 'provider:cf circuit breaker open after repeated failures', { retryAfterSeconds: 4 });
    tw.failing = new ProviderFailure('refused', 'provider:tw Tokens: HTTP 401, our key was refused');
    const servers = [cf, tw];
    const minter = selectingMinter(servers, 'first', () => picture(servers));
    const error = await failureOf(minter.mint('@ann:x'));
    expect({ status: error.status, errcode: error.errcode, headers: error.headers, reported: error.reported }).toEqual({
      status: 503,
      errcode: 'M_UNKNOWN',
      headers: { 'Retry-After': '4' },
      reported: true,
    });
    expect(error.body()).toEqual({ errcode: 'M_UNKNOWN', error: 'No TURN server can issue credentials right now' });
    expect(error.detail).toBe(
      'no TURN server answered (cf: provider:cf circuit breaker open after repeated failures; ' +
        'tw: provider:tw Tokens: HTTP 401, our key was refused)',
    );
    expect([cf.calls, tw.calls]).toEqual([1, 1]);
    tw.failing = new ProviderFailure('timeout', 'no answer');
    cf.failing = new ProviderFailure('timeout', 'no answer');
    expect((await failureOf(minter.mint('@ann:x'))).headers).toEqual({ 'Retry-After': '5' });
  });

  it("'spread': a user whose provider fails gets the server they would get without it", async () => {
    const cf = provider('cf');
    const servers = [cf, own('eu', ['turn:eu.example.org']), own('us', ['turn:us.example.org']), provider('tw')];
    const minter = selectingMinter(servers, 'spread', () => picture(servers));
    const users = Array.from({ length: 200 }, (_, i) => `@user${i}:example.org`);
    const ofCf = [];
    for (const user of users) if ((await minter.mint(user)).username.startsWith('cf:')) ofCf.push(user);
    expect(ofCf.length).toBeGreaterThan(20);
    cf.failing = new ProviderFailure('unavailable', 'down');
    const withoutCf = servers.filter((server) => server !== cf);
    const reference = selectingMinter(withoutCf, 'spread', () => picture(withoutCf));
    for (const user of ofCf) expect((await minter.mint(user)).username).toBe((await reference.mint(user)).username);
  });

  it('leaves the coturn-only path without a promise', () => {
    const servers = [own('eu', ['turn:eu.example.org'])];
    expect(selectingMinter(servers, 'first', () => picture(servers)).mint('@ann:x')).not.toBeInstanceOf(Promise);
  });
});
