// The minter the service builds from the configuration: a TURN_SHARED_SECRET_FILE (or
// TURN_PASSWORD_FILE) rewritten while running is taken exactly when the configuration
// would have taken it at start; otherwise credentials stay signed with the last good value.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { turnPassword } from '../../../src/turn/credentials.js';
import { createMinter } from '../../../src/turn/index.js';
import { turnServersOptions } from '../../../src/app.js';
import { captureLogs } from '../../helpers/logs.js';
import { waitFor } from '../../helpers/wait.js';

const BASE = { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: 'turn:turn.example.org:3478?transport=udp' };
const clock = { nowMs: () => 1_700_000_000_000 };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mtc-minter-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function acceptedAtStart(env: Record<string, string>): boolean {
  try {
    loadConfig(env);
    return true;
  } catch (error) {
    if (error instanceof ConfigError) return false;
    throw error;
  }
}

describe('a TURN_SHARED_SECRET_FILE rewritten while running', () => {
  it.each([',new-c3', 'new-c3,', 'new-c3,,old-c3', ' , ', 'new-c3, old-c3', 'new-c3'])(
    'to %j: taken exactly when the start would take it',
    async (contents) => {
      const path = join(dir, 'secret');
      writeFileSync(path, 'old-c3\n');
      const config = loadConfig({ ...BASE, TURN_SHARED_SECRET_FILE: path });
      const logs = captureLogs();
      const registry = new Registry();
      const metrics = createMetrics(registry, { defaultMetrics: false });
      const turn = createMinter(turnServersOptions(config).servers[0]!, { clock, logger: createLogger('info', logs.stream), metrics });
      try {
        writeFileSync(path, `${contents}\n`);
        const said = await waitFor(() => logs.entries().find((e) => e.setting === 'TURN_SHARED_SECRET_FILE'), {
          what: 'the re-read to be logged',
        });
        const startFile = join(dir, 'at-start');
        writeFileSync(startFile, `${contents}\n`);
        const taken = acceptedAtStart({ ...BASE, TURN_SHARED_SECRET_FILE: startFile });

        expect({ contents, level: said.level, taken }).toEqual({ contents, level: taken ? 'info' : 'error', taken });
        const { username, password } = turn.minter.mint('@ann:example.org');
        expect(password).toBe(turnPassword(taken ? 'new-c3' : 'old-c3', username));
        expect(password).not.toBe(turnPassword('', username));
        const failures = (await metrics.secretReloadFailures.get()).values.find(
          (v) => v.labels.secret === 'TURN_SHARED_SECRET_FILE',
        )?.value;
        expect(failures).toBe(taken ? 0 : 1);
      } finally {
        turn.close();
      }
    },
  );
});

describe('a TURN_PASSWORD_FILE rewritten while running', () => {
  it('keeps the last good password when emptied, counted', async () => {
    const path = join(dir, 'password');
    writeFileSync(path, 'static-pw-e5\n');
    const config = loadConfig({ ...BASE, TURN_USERNAME: 'turn-user', TURN_PASSWORD_FILE: path });
    const registry = new Registry();
    const metrics = createMetrics(registry, { defaultMetrics: false });
    const turn = createMinter(turnServersOptions(config).servers[0]!, {
      clock,
      logger: createLogger('info', captureLogs().stream),
      metrics,
    });
    try {
      writeFileSync(path, '\n');
      const counted = async () =>
        (await metrics.secretReloadFailures.get()).values.find((v) => v.labels.secret === 'TURN_PASSWORD_FILE')?.value;
      await waitFor(async () => (await counted()) === 1, { what: 'the emptied file to be counted' });
      expect(turn.minter.mint('@ann:example.org').password).toBe('static-pw-e5');
    } finally {
      turn.close();
    }
  });
});
