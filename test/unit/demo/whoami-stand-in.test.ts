// The demo's homeserver stand-in over real HTTP: Synapse's whoami answers for the one
// token it knows and for every other case, and Synapse's 404 elsewhere; then the real
// service in front of it answers the demo token 200 with credentials and any other 401.

import { startTestService, type TestService } from '../../helpers/service.js';
import { DEMO_USER } from '../../../src/demo/demo-environment.js';
import { startWhoamiStandIn, WHOAMI_PATH, type WhoamiStandIn } from '../../../src/demo/whoami-stand-in.js';

const TOKEN = 'demo_known-token';
let standIn: WhoamiStandIn;
let service: TestService | undefined;

beforeEach(async () => {
  standIn = await startWhoamiStandIn({ token: TOKEN, user: DEMO_USER, host: '127.0.0.1' });
});
afterEach(async () => {
  await service?.stop();
  service = undefined;
  await standIn.close();
});

const whoami = (init: RequestInit = {}, path = WHOAMI_PATH) =>
  fetch(`${standIn.url}${path}`, init).then(async (r) => ({ status: r.status, type: r.headers.get('content-type'), body: await r.json() }));
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('the whoami stand-in', () => {
  it('listens on the loopback host it was given, at a port of its own', () => {
    expect(standIn.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers the demo token with the demo user, as Synapse answers whoami', async () => {
    expect(await whoami(bearer(TOKEN))).toEqual({
      status: 200,
      type: 'application/json',
      body: { user_id: '@demo:localhost', is_guest: false, device_id: 'DEMO' },
    });
  });

  it("answers any other token with Synapse's 401 M_UNKNOWN_TOKEN, and no token with M_MISSING_TOKEN", async () => {
    const unknown = { errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid access token passed.', soft_logout: false };
    expect(await whoami(bearer('demo_other-token'))).toMatchObject({ status: 401, body: unknown });
    expect(await whoami(bearer(`${TOKEN}x`))).toMatchObject({ status: 401, body: unknown });
    expect(await whoami(bearer(TOKEN.slice(0, -1)))).toMatchObject({ status: 401, body: unknown });
    expect(await whoami({ headers: { authorization: TOKEN } })).toMatchObject({ status: 401, body: unknown });
    expect(await whoami()).toMatchObject({ status: 401, body: { errcode: 'M_MISSING_TOKEN', error: 'Missing access token' } });
  });

  it('is nothing but whoami: other paths are 404, other methods 405, both M_UNRECOGNIZED', async () => {
    const unrecognized = { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' };
    expect(await whoami(bearer(TOKEN), '/_matrix/client/v3/profile/@demo:localhost')).toEqual({
      status: 404,
      type: 'application/json',
      body: unrecognized,
    });
    expect(await whoami({ method: 'POST', ...bearer(TOKEN) })).toMatchObject({ status: 405, body: unrecognized });
  });

  it('closes: its port refuses connections afterwards', async () => {
    const { url } = standIn;
    await standIn.close();
    await expect(fetch(`${url}${WHOAMI_PATH}`)).rejects.toThrow();
    standIn = await startWhoamiStandIn({ token: TOKEN, user: DEMO_USER, host: '127.0.0.1' });
  });
});

describe('the service in front of the stand-in', () => {
  it('gives the demo token TURN credentials for @demo:localhost and refuses any other token', async () => {
    service = await startTestService({ HOMESERVER_URL: standIn.url });
    const ok = await service.turnServer(TOKEN);
    expect(ok.status).toBe(200);
    const credentials = (await ok.json()) as { username: string; password: string; uris: string[]; ttl: number };
    expect(credentials.username).toMatch(/^\d+:@demo:localhost$/);
    expect(credentials).toMatchObject({ ttl: 3600, uris: expect.arrayContaining(['turn:turn.example.org:3478?transport=udp']) });
    expect(credentials.password).not.toBe('');

    const refused = await service.turnServer('demo_other-token');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN', soft_logout: false });
  });
});
