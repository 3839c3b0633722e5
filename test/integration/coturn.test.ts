// The credentials against a real coturn (use-auth-secret, static-auth-secret) on a free
// loopback port, allocating with turnutils_uclient: what the service issues is accepted;
// an altered password, an expired credential, and one signed with a secret coturn does
// not know are refused.

import { manualClock } from '../helpers/clock.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const CURRENT_SECRET = 'current-coturn-secret-5b1e';
const OLD_SECRET = 'old-coturn-secret-77aa';
// A positive allocation exchanges data for several seconds; leave room on a slow machine.
const ALLOCATION_TIMEOUT_MS = 90_000;

let homeserver: StandInHomeserver;
let coturn: Coturn;
const services: TestService[] = [];

async function credentialsFrom(
  env: Record<string, string>,
  clock?: ReturnType<typeof manualClock>,
): Promise<{ username: string; password: string; uris: string[]; ttl: number }> {
  const service = await startTestService(
    { HOMESERVER_URL: homeserver.url, TURN_URIS: `turn:127.0.0.1:${coturn.port}?transport=udp`, LOG_LEVEL: 'warn', ...env },
    clock ? { clock } : {},
  );
  services.push(service);
  const res = await service.turnServer('alice-token');
  expect(res.status).toBe(200);
  return (await res.json()) as { username: string; password: string; uris: string[]; ttl: number };
}

/**
 * Resolves once coturn has logged its authentication refusal of this username after
 * `offset` (coturn answers every such case with the same words; its log arrives through a
 * pipe, so it is awaited rather than read at once).
 */
function coturnRefused(server: Coturn, username: string, offset: number): Promise<boolean> {
  const refusal = `check_stun_auth: Cannot find credentials of user <${username}>`;
  return waitFor(() => server.log().slice(offset).includes(refusal), { what: `coturn to log "${refusal}"` });
}

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
  coturn = await startCoturn({ secrets: [CURRENT_SECRET] });
});
afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await coturn?.stop();
  await homeserver?.close();
});

describe('coturn with use-auth-secret', () => {
  it(
    'allocates with the credentials the service issues, on the URI it hands out',
    async () => {
      const creds = await credentialsFrom({ TURN_SHARED_SECRET: `${CURRENT_SECRET},${OLD_SECRET}` });
      expect(creds.uris).toEqual([`turn:127.0.0.1:${coturn.port}?transport=udp`]);
      const result = await coturn.allocate(creds.username, creds.password);
      expect({ ok: result.ok, output: result.ok ? '' : result.output }).toEqual({ ok: true, output: '' });
    },
    ALLOCATION_TIMEOUT_MS,
  );

  it(
    'refuses an altered password',
    async () => {
      const creds = await credentialsFrom({ TURN_SHARED_SECRET: CURRENT_SECRET });
      const altered = `${creds.password[0] === 'A' ? 'B' : 'A'}${creds.password.slice(1)}`;
      const offset = coturn.log().length;
      const result = await coturn.allocate(creds.username, altered);
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/Cannot complete Allocation/);
      await coturnRefused(coturn, creds.username, offset);
    },
    ALLOCATION_TIMEOUT_MS,
  );

  it(
    'refuses a credential whose expiry has passed',
    async () => {
      // Issued two hours ago with a one-hour lifetime: correctly signed, expired an hour ago.
      const creds = await credentialsFrom(
        { TURN_SHARED_SECRET: CURRENT_SECRET, TURN_TTL: '3600' },
        manualClock(Date.now() - 2 * 3_600_000),
      );
      expect(Number(creds.username.split(':', 1)[0])).toBeLessThan(Date.now() / 1000 - 3000);
      const offset = coturn.log().length;
      const result = await coturn.allocate(creds.username, creds.password);
      expect(result.ok).toBe(false);
      await coturnRefused(coturn, creds.username, offset);
    },
    ALLOCATION_TIMEOUT_MS,
  );

  it(
    'refuses a credential signed with the second (old) secret when coturn only knows the first',
    async () => {
      // A replica still configured with the old secret first, as before a rotation.
      const creds = await credentialsFrom({ TURN_SHARED_SECRET: `${OLD_SECRET},${CURRENT_SECRET}` });
      const offset = coturn.log().length;
      const result = await coturn.allocate(creds.username, creds.password);
      expect(result.ok).toBe(false);
      await coturnRefused(coturn, creds.username, offset);
    },
    ALLOCATION_TIMEOUT_MS,
  );
});

describe('rotating the shared secret', () => {
  let rotating: Coturn;
  beforeAll(async () => {
    rotating = await startCoturn({ secrets: [CURRENT_SECRET, OLD_SECRET] });
  });
  afterAll(() => rotating?.stop());

  it(
    'a coturn that lists both secrets accepts credentials signed with the old one',
    async () => {
      const creds = await credentialsFrom({ TURN_SHARED_SECRET: OLD_SECRET });
      const result = await rotating.allocate(creds.username, creds.password);
      expect({ ok: result.ok, output: result.ok ? '' : result.output }).toEqual({ ok: true, output: '' });
    },
    ALLOCATION_TIMEOUT_MS,
  );
});
