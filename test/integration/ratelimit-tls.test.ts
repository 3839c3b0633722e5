// Redis over TLS (rediss://), with the built service in its own process so that
// NODE_EXTRA_CA_CERTS, as the README tells operators to use for a private CA, is read at
// start as in production: a server signed by the trusted CA carries the shared limit; one
// the service cannot verify is refused, and the service keeps answering on the fallback.

import { rateLimitKey } from '../../src/ratelimit/redis.js';
import { startBuiltService, type BuiltService } from '../helpers/built-service.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { storedBucket, withAdmin } from '../helpers/redis-admin.js';
import { startTlsRedis, type TlsRedis } from '../helpers/redis-tls.js';
import { TEST_SECRET } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

let homeserver: StandInHomeserver;
let tlsRedis: TlsRedis;
const services: BuiltService[] = [];

beforeAll(async () => {
  homeserver = await startHomeserver();
  tlsRedis = await startTlsRedis();
});

afterAll(async () => {
  await Promise.allSettled(services.map((s) => s.stop()));
  await tlsRedis?.stop();
  await homeserver?.close();
});

async function start(caFile: string): Promise<BuiltService> {
  const service = await startBuiltService({
    HOMESERVER_URL: homeserver.url,
    TURN_URIS: 'turn:turn.example.org:3478',
    TURN_SHARED_SECRET: TEST_SECRET,
    REDIS_URL: `rediss://localhost:${tlsRedis.tlsPort}`,
    NODE_EXTRA_CA_CERTS: caFile,
    RATE_LIMIT_BURST: '2',
    RATE_LIMIT_PER_SECOND: '0.01',
  });
  services.push(service);
  return service;
}

const redisComponent = async (service: BuiltService) =>
  ((await (await fetch(`${service.url}/readyz`)).json()) as { components: Record<string, { degraded: boolean; detail: string }> })
    .components.redis;

describe('Redis over TLS', () => {
  test('a server signed by a CA given in NODE_EXTRA_CA_CERTS: the limit lives in Redis', async () => {
    const service = await start(tlsRedis.caFile);
    await waitFor(async () => (await redisComponent(service))?.degraded === false, {
      timeoutMs: 20_000,
      what: 'the service to reach Redis over TLS',
    });
    const userId = '@tls:example.org';
    homeserver.addToken('tls-token', { userId });
    const statuses = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push(
        (await fetch(`${service.url}/_matrix/client/v3/voip/turnServer`, { headers: { authorization: 'Bearer tls-token' } })).status,
      );
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(await withAdmin(tlsRedis.redis.url, (admin) => storedBucket(admin, rateLimitKey(userId)))).toMatchObject({ actionCount: 2 });
  });

  test('a server the service cannot verify is refused; credentials keep coming from the fallback', async () => {
    const service = await start(tlsRedis.otherCaFile);
    // The logs are buffered in this process (pino, 4 KiB): /readyz says it at once.
    const component = await waitFor(
      async () => {
        const current = await redisComponent(service);
        return current !== undefined && /unreachable/.test(current.detail) ? current : undefined;
      },
      { timeoutMs: 20_000, what: 'the service to give up on the unverifiable server' },
    );
    // The same server with the right CA works (above): the certificate is what failed.
    expect(component).toMatchObject({ degraded: true });
    homeserver.addToken('tls-token-2', { userId: '@tls2:example.org' });
    const response = await fetch(`${service.url}/_matrix/client/v3/voip/turnServer`, { headers: { authorization: 'Bearer tls-token-2' } });
    expect(response.status).toBe(200);
    expect(await withAdmin(tlsRedis.redis.url, (admin) => admin.exists(rateLimitKey('@tls2:example.org')))).toBe(0);
  });
});
