// The doctor asks each provider entry once for the probe user's credential
// (src/doctor/checks/turn.ts) and says what came back: how many URIs and the TTL, or why
// nothing did, naming the setting to check; never a secret.

import { Registry } from 'prom-client';
import { systemTimers } from '../../../../src/clock.js';
import { loadConfig } from '../../../../src/config/index.js';
import { turnSections } from '../../../../src/doctor/checks/turn.js';
import { createLogger } from '../../../../src/logger.js';
import { createMetrics } from '../../../../src/metrics.js';
import { startCloudflareStandIn, startMeteredStandIn, type ProviderStandIn } from '../../../helpers/provider-stand-ins.js';

const TOKEN = 'cf-doctor-token-never-shown-2e';
const standIns: ProviderStandIn[] = [];

afterEach(async () => {
  await Promise.all(standIns.splice(0).map((standIn) => standIn.close()));
});

async function sections(entries: string[]) {
  const yaml = ['homeserver_url: https://matrix.example.org', 'upstream_timeout_ms: 300', 'turn_servers:', ...entries].join('\n');
  const config = loadConfig({ CONFIG_FILE: '/etc/mtc.yaml' }, { readFile: () => yaml });
  const probe = () => Promise.reject(new Error('no URI of our own to probe'));
  return turnSections(config, {
    probe,
    // A clock that stands still: the TTL printed is the whole lifetime (timeouts run on Node's timers).
    clock: { nowMs: () => 1_700_000_000_000 },
    timers: systemTimers,
    logger: createLogger('silent'),
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
  });
}

describe("the doctor's section of a provider entry", () => {
  it('says how many URIs and what TTL the provider gave, after one call', async () => {
    const cf = await startCloudflareStandIn({ keyId: 'k1', apiToken: TOKEN });
    standIns.push(cf);
    const found = await sections([`  - {name: cf, provider: cloudflare, api_url: "${cf.url}", key_id: k1, api_token: ${TOKEN}, ttl: 10m}`]);
    expect(found).toEqual([
      {
        title: `TURN provider "cf" (cloudflare): ${cf.url}`,
        checks: [
          {
            status: 'ok',
            what: 'the provider issues a credential for @turn-health-check:matrix.example.org',
            detail:
              '3 URIs (stun:stun.cloudflare.com:3478, turn:turn.provider.example:3478?transport=udp, ' +
              'turn:turn.provider.example:3478?transport=tcp), TTL 600 s',
          },
        ],
      },
    ]);
    expect(cf.issued).toBe(1);
  });

  it.each([
    ['unauthorized', /^the provider refused our key: turn_servers\[cf\]\.api_token is revoked/],
    ['hang', /^no answer within UPSTREAM_TIMEOUT_MS \(300 ms\)/],
    ['error500', /could not be reached or answered with an error: check api_url/],
    ['garbage', /^the answer is not a credential/],
  ] as const)('fails when the API answers %s, with its likely cause', async (mode, cause) => {
    const cf = await startCloudflareStandIn({ keyId: 'k1', apiToken: TOKEN });
    standIns.push(cf);
    cf.mode = mode;
    const [section] = await sections([`  - {name: cf, provider: cloudflare, api_url: "${cf.url}", key_id: k1, api_token: ${TOKEN}}`]);
    expect(section!.checks).toHaveLength(1);
    expect(section!.checks[0]).toMatchObject({ status: 'fail', cause: expect.stringMatching(cause) });
    expect(JSON.stringify(section)).not.toContain(TOKEN);
  });

  it("names Metered's key setting when it is refused, and shows no secret of the query string", async () => {
    const me = await startMeteredStandIn({ secretKey: 'right-key-never-shown' });
    standIns.push(me);
    const [section] = await sections([`  - {name: me, provider: metered, api_url: "${me.url}", secret_key: wrong-key-never-shown}`]);
    expect(section!.checks[0]).toMatchObject({ status: 'fail', cause: expect.stringContaining('turn_servers[me].secret_key is') });
    expect(JSON.stringify(section)).not.toMatch(/never-shown/);
  });
});
