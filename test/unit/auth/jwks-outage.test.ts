// A JWKS endpoint that cannot be reached before any key was fetched fails every request
// that needs a key; the log tells that outage once when it starts and once when a fetch
// gets the key set again, with the count of requests it failed, as for any upstream.

import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { Registry } from 'prom-client';
import { remoteKeys } from '../../../src/auth/jwt-keys.js';
import { createUpstream, type Upstream } from '../../../src/auth/upstream.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { manualClock } from '../../helpers/clock.js';
import { captureLogs } from '../../helpers/logs.js';
import { freePort } from '../../helpers/ports.js';

let server: Server | undefined;
let upstream: Upstream | undefined;
afterAll(async () => {
  await upstream?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

test('a JWKS outage of N requests: one warning at its start, one info line with N once a fetch succeeds, each error marked as told', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);

  const port = await freePort();
  const clock = manualClock();
  const logs = captureLogs();
  // The JWKS's upstream, as auth/index.ts builds it; a breaker that stays closed, so every
  // request of the outage reaches the endpoint and the first one after it answers.
  upstream = createUpstream({
    name: 'jwks',
    timeoutMs: 2000,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    logger: createLogger('info', logs.stream),
    clock,
    breakerFailureThreshold: 1000,
  });
  const keys = remoteKeys({ url: `http://127.0.0.1:${port}/jwks`, cooldownMs: 0, upstream });

  for (let i = 0; i < 5; i++) {
    const error = await jwtVerify(token, keys).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MatrixError);
    expect(error).toMatchObject({ status: 502, reported: true });
    clock.advance(1000);
  }
  expect(logs.entries()).toEqual([expect.objectContaining({ level: 'warn', upstream: 'jwks', detail: expect.stringMatching(/^jwks unreachable/) })]);

  server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
  await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
  await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'alice' } });
  expect(logs.entries()).toEqual([
    expect.objectContaining({ level: 'warn', upstream: 'jwks' }),
    expect.objectContaining({ level: 'info', upstream: 'jwks', failedRequests: 5, failedFast: 0, durationMs: 5000 }),
  ]);
});
