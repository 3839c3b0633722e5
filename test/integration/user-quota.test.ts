// One relay budget per Matrix user: coturn 4.6.1 counts `user-quota` by the part of a REST
// username after "<expiry>:", so a Matrix user holds at most that many allocations at once
// however many credentials they fetch. Against a real coturn with --user-quota 2 reading
// its secrets from Redis as the service manages them (managed secrets add nothing to the
// username): three credentials of one user minted a second apart, each allocating a relay
// it keeps (one UDP Allocate per credential, left standing), and the third is refused with
// 486 Allocation Quota Reached while another user still allocates.

import type { Redis } from 'ioredis';
import type { StunConnection } from '../../src/turn/probe/stun-transport.js';
import { manualClock } from '../helpers/clock.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { holdAllocation } from '../helpers/held-allocation.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { adminConnection } from '../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const REALM = 'quota.example.org';

interface Answer {
  username: string;
  password: string;
}

let homeserver: StandInHomeserver;
let redis: RedisProcess;
let admin: Redis;
let coturn: Coturn;
let service: TestService;
const held: StunConnection[] = [];
// Near the real time (coturn checks the expiry in each username), moved by hand to mint a second apart.
const clock = manualClock(Date.now());

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken('alice-token', { userId: '@alice:example.org' });
  homeserver.addToken('bob-token', { userId: '@bob:example.org' });
  redis = await startRedis();
  admin = adminConnection(`${redis.url}/1`);
  coturn = await startCoturn({
    secrets: [],
    realm: REALM,
    extraArgs: ['--user-quota=2', `--redis-userdb=ip=127.0.0.1 dbname=1 port=${redis.port}`],
  });
  service = await startTestService(
    {
      HOMESERVER_URL: homeserver.url,
      TURN_URIS: `turn:127.0.0.1:${coturn.port}?transport=udp`,
      TURN_SHARED_SECRET: undefined,
      TURN_SECRET_ROTATION_INTERVAL: '3600',
      COTURN_REDIS_URL: `${redis.url}/1`,
      COTURN_REALM: REALM,
      LOG_LEVEL: 'warn',
    },
    { clock },
  );
  await waitFor(async () => (await admin.scard(`turn/realm/${REALM}/secret`)) === 1, { what: "the managed secret in coturn's set" });
});

afterAll(async () => {
  for (const connection of held.splice(0)) connection.close();
  await service?.stop();
  await coturn?.stop();
  admin?.disconnect();
  await redis?.stop();
  await homeserver?.close();
});

async function mint(token: string): Promise<Answer> {
  const res = await service.turnServer(token);
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

/** An Allocate over UDP left standing (closed after the test): the STUN error code, or 'allocated'. */
async function allocateAndHold(credential: Answer): Promise<number | 'allocated'> {
  const { connection, outcome } = await holdAllocation(coturn.port, credential);
  held.push(connection);
  return outcome;
}

describe("coturn's user-quota with the service's credentials", () => {
  it('refuses a Matrix user a third concurrent allocation, with three different credentials, while another user allocates', async () => {
    const credentials: Answer[] = [];
    for (let i = 0; i < 3; i++) {
      credentials.push(await mint('alice-token'));
      clock.advance(1000);
    }
    expect(new Set(credentials.map((c) => c.username)).size).toBe(3);
    for (const c of credentials) expect(c.username).toMatch(/^\d+:@alice:example\.org$/);

    expect(await allocateAndHold(credentials[0]!)).toBe('allocated');
    expect(await allocateAndHold(credentials[1]!)).toBe('allocated');
    expect(await allocateAndHold(credentials[2]!)).toBe(486);
    const bob = await mint('bob-token');
    expect(await allocateAndHold(bob)).toBe('allocated');
  });
});
