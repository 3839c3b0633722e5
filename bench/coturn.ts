// A real coturn for --with-health-checks and --ab=health: turnserver on a free loopback
// port with a known static-auth-secret, so the service's health checks (STUN Binding, TURN
// Allocate with a minted credential) succeed against it, and the environment that points
// the service at it.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackCoturnArgs } from '../test/helpers/coturn.js';
import { freePort } from './ports.js';
import type { Processes } from './processes.js';

export interface BenchCoturn {
  /** TURN_URIS and TURN_SHARED_SECRET for it, and the health checks every second or off. */
  env(healthChecks: boolean): Record<string, string>;
  stop(): Promise<void>;
}

export async function startCoturn(processes: Processes, secret: string): Promise<BenchCoturn> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mtc-bench-coturn-'));
  const args = loopbackCoturnArgs({ port, dir, secrets: [secret], realm: 'bench.example.org' });
  // coturn opens its TCP listener on the port once it serves.
  const child = await processes.start('coturn', 'turnserver', args, {}, port);
  return {
    env: (healthChecks) => ({
      TURN_URIS: `turn:127.0.0.1:${port}?transport=udp,turn:127.0.0.1:${port}?transport=tcp`,
      TURN_SHARED_SECRET: secret,
      TURN_HEALTH_CHECK_INTERVAL: healthChecks ? '1' : '0',
    }),
    async stop() {
      await processes.stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
