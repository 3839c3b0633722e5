// The TURN servers as a whole (src/turn/servers.ts): each URI of a server probed as its own
// user, with a credential minted as a client's is.

import { Registry } from 'prom-client';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import type { ProbeOptions, ProbeResult } from '../../../src/turn/probe/probe-uri.js';
import { turnPassword } from '../../../src/turn/credentials.js';
import { createTurnServers, probeUser } from '../../../src/turn/servers.js';
import { manualClock } from '../../helpers/clock.js';

describe('the TURN servers', () => {
  it('probe each turn: URI with a credential of its own probe user, signed as a client credential is', async () => {
    const clock = manualClock(1_700_000_000_000);
    const probes: { uri: string; options: ProbeOptions }[] = [];
    const probe = (uri: string, options: ProbeOptions): Promise<ProbeResult> => {
      probes.push({ uri, options });
      return Promise.resolve({ ok: true, resolved: { address: '192.0.2.1', port: 3478, family: 4 } });
    };
    const turn = createTurnServers(
      {
        servers: [
          {
            name: 'eu',
            uris: ['turn:eu.example.org?transport=udp', 'turn:eu.example.org?transport=tcp', 'stun:eu.example.org'],
            ttlSeconds: 600,
            credentials: { kind: 'shared-secret', sharedSecrets: { value: 'eu-secret' }, validateSharedSecrets: () => undefined },
          },
        ],
        selection: 'first',
        healthCheck: { intervalMs: 30_000, timeoutMs: 2000, maxInFlight: 8 },
        probeUserId: '@turn-health-check:example.org',
      },
      { clock, timers: clock, logger: createLogger('silent'), metrics: createMetrics(new Registry(), { defaultMetrics: false }), probe },
    );
    turn.start();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await turn.close();
    const expiry = 1_700_000_000 + 600;
    expect(probes.map(({ uri, options }) => [uri, options.credential])).toEqual([
      [
        'turn:eu.example.org?transport=udp',
        {
          username: `${expiry}:@turn-health-check:example.org`,
          password: turnPassword('eu-secret', `${expiry}:@turn-health-check:example.org`),
        },
      ],
      [
        'turn:eu.example.org?transport=tcp',
        {
          username: `${expiry}:@turn-health-check-2:example.org`,
          password: turnPassword('eu-secret', `${expiry}:@turn-health-check-2:example.org`),
        },
      ],
      ['stun:eu.example.org', undefined],
    ]);
  });

  it('name one probe user per URI of a server', () => {
    expect([0, 1, 2].map((index) => probeUser('@turn-health-check:example.org', index))).toEqual([
      '@turn-health-check:example.org',
      '@turn-health-check-2:example.org',
      '@turn-health-check-3:example.org',
    ]);
  });
});
