// Which server answers (src/turn/selection.ts): the first usable one, or one per user by
// hash among the usable ones; only the URIs that are up; everything when all are down.

import type { CredentialMinter } from '../../../src/turn/credentials.js';
import type { ServerHealth, TurnHealthSnapshot, UriHealth } from '../../../src/turn/health-checks.js';
import { selectingMinter, type SelectableServer } from '../../../src/turn/selection.js';

function server(name: string, uris: string[]): SelectableServer {
  const minter: CredentialMinter = { mint: (userId) => ({ username: `${name}:${userId}`, password: `${name}-pw`, uris, ttl: 3600 }) };
  return { name, uris, minter };
}

const SERVERS = [
  server('eu', ['turn:eu.example.org?transport=udp', 'turns:eu.example.org:5349']),
  server('us', ['turn:us.example.org?transport=udp']),
  server('asia', ['turn:asia.example.org?transport=udp']),
];

/** A picture with the named URIs down and every other one up. */
function picture(downUris: readonly string[] = []): TurnHealthSnapshot {
  const servers = SERVERS.map((s): ServerHealth => ({
    name: s.name,
    uris: s.uris.map((uri): UriHealth =>
      downUris.includes(uri) ? { uri, state: 'down', checkedAtMs: 0, reason: 'timeout', detail: '' } : { uri, state: 'up', checkedAtMs: 0 },
    ),
    usableUris: s.uris.filter((uri) => !downUris.includes(uri)),
  }));
  return { servers, allDown: servers.every((s) => s.usableUris.length === 0) };
}

const USERS = Array.from({ length: 300 }, (_, i) => `@user${i}:example.org`);
const serverOf = (minter: CredentialMinter, userId: string) => minter.mint(userId).username.split(':')[0];

describe('choosing the server that answers', () => {
  it("'first': the first server with a usable URI, naming only its URIs that are up", () => {
    let current = picture();
    const minter = selectingMinter(SERVERS, 'first', () => current);
    expect(minter.mint('@ann:example.org')).toEqual({
      username: 'eu:@ann:example.org',
      password: 'eu-pw',
      uris: SERVERS[0]!.uris,
      ttl: 3600,
    });
    current = picture(['turns:eu.example.org:5349']);
    expect(minter.mint('@ann:example.org').uris).toEqual(['turn:eu.example.org?transport=udp']);
    current = picture(SERVERS[0]!.uris);
    expect(minter.mint('@ann:example.org')).toMatchObject({ username: 'us:@ann:example.org', uris: SERVERS[1]!.uris });
  });

  it('every server down: the answer is made as if every one were up (a broken check must not break calls)', () => {
    const minter = selectingMinter(SERVERS, 'first', () => picture(SERVERS.flatMap((s) => s.uris)));
    expect(minter.mint('@ann:example.org')).toMatchObject({ username: 'eu:@ann:example.org', uris: SERVERS[0]!.uris });
  });

  it("'spread': each user keeps one server, and the users are spread over all of them", () => {
    const minter = selectingMinter(SERVERS, 'spread', () => picture());
    const chosen = USERS.map((user) => serverOf(minter, user));
    expect(USERS.map((user) => serverOf(minter, user))).toEqual(chosen);
    const counts = Object.fromEntries(SERVERS.map((s) => [s.name, chosen.filter((name) => name === s.name).length]));
    for (const count of Object.values(counts)) expect(count).toBeGreaterThan(60);
  });

  it("'spread': when a server goes down only its users move, and they come back when it is up again", () => {
    let current = picture();
    const minter = selectingMinter(SERVERS, 'spread', () => current);
    const before = USERS.map((user) => serverOf(minter, user));
    current = picture(SERVERS[1]!.uris);
    const during = USERS.map((user) => serverOf(minter, user));
    USERS.forEach((_, i) => {
      if (before[i] === 'us') expect(during[i]).not.toBe('us');
      else expect(during[i]).toBe(before[i]);
    });
    current = picture();
    expect(USERS.map((user) => serverOf(minter, user))).toEqual(before);
  });
});
