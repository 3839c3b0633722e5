// The appservice verifier: the hs_token compared exactly, the user named by the
// homeserver in X-Matrix-User-Identifier taken only when it is a user id of SERVER_NAME.

import { appserviceVerifier } from '../../../src/auth/appservice.js';
import { refusal } from '../../helpers/refusal.js';

const HS_TOKEN = 'hs-token-7f3a9c';

function verifier(current: () => string = () => HS_TOKEN) {
  return appserviceVerifier({ hsToken: { current }, serverName: 'example.org' });
}

describe('appservice verifier', () => {
  it('the hs_token with a user id of this server is that user, never a guest, with no expiry of its own', async () => {
    await expect(verifier().verify(HS_TOKEN, { userIdHeader: '@alice:example.org' })).resolves.toEqual({
      userId: '@alice:example.org',
      isGuest: false,
    });
  });

  it.each([
    ['another token', 'hs-token-7f3a9d'],
    ['a prefix of the hs_token', HS_TOKEN.slice(0, -1)],
    ['the hs_token with more after it', `${HS_TOKEN}x`],
    ['an empty token', ''],
  ])('%s is 401 M_UNKNOWN_TOKEN, whatever the header says', async (_name, token) => {
    const r = await refusal(verifier().verify(token, { userIdHeader: '@alice:example.org' }));
    expect(r).toMatchObject({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['a bare localpart', 'alice'],
    ['no server part', '@alice'],
    ['a user of another server', '@alice:evil.example'],
    ['a server name that merely starts like ours', '@alice:example.org.evil.example'],
    ['characters no localpart may have', '@Alice Smith:example.org'],
    ['a room id', '!room:example.org'],
  ])('%s is 403 M_FORBIDDEN', async (_name, userIdHeader) => {
    const r = await refusal(verifier().verify(HS_TOKEN, userIdHeader === undefined ? {} : { userIdHeader }));
    expect(r).toMatchObject({ status: 403, body: { errcode: 'M_FORBIDDEN' } });
  });

  it('reads the hs_token per request, so a rotated secret file takes effect at once', async () => {
    let current = HS_TOKEN;
    const v = verifier(() => current);
    current = 'rotated-token';
    await expect(v.verify('rotated-token', { userIdHeader: '@alice:example.org' })).resolves.toMatchObject({
      userId: '@alice:example.org',
    });
    expect((await refusal(v.verify(HS_TOKEN, { userIdHeader: '@alice:example.org' }))).status).toBe(401);
  });
});
