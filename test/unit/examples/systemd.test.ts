// The systemd unit as systemd reads it: `systemd-analyze verify` finds nothing to say,
// `systemd-analyze security` rates its hardening "OK" or better, and it leaves
// MemoryDenyWriteExecute off, saying why (V8's JIT). Its environment file, with the
// credential the unit hands over, is a configuration the service accepts.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../../src/config/index.js';
import { activeLines, environmentFile, exampleText } from './example-files.js';

const run = promisify(execFile);
const UNIT = 'matrix-turn-credentials.service';
const unit = exampleText(`systemd/${UNIT}`);

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mtc-systemd-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The unit in a folder of its own; verify checks that ExecStart's program exists, so node is this test's node. */
function unitCopy(): string {
  const path = join(dir, UNIT);
  writeFileSync(path, unit.replaceAll('/usr/bin/node', process.execPath));
  return path;
}

test('systemd-analyze verify accepts the unit without a warning', async () => {
  const { stdout, stderr } = await run('systemd-analyze', ['verify', unitCopy()]);
  expect(`${stdout}${stderr}`).toBe('');
});

test('systemd-analyze verify would report a misspelt option, so the check above can fail', async () => {
  const path = unitCopy();
  writeFileSync(path, unit.replace('ProtectSystem=strict', 'ProtectSytem=strict'));
  const { stderr } = await run('systemd-analyze', ['verify', path]);
  expect(stderr).toContain("Unknown key 'ProtectSytem'");
});

test('systemd-analyze security rates the hardening OK or better (exposure below 2.0)', async () => {
  const { stdout } = await run('systemd-analyze', ['security', '--offline=yes', unitCopy()]);
  const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1]);
  expect(exposure).toBeLessThan(2);
});

test('runs node itself under a dynamic user, with the hardening options the README promises', () => {
  const lines = activeLines(unit);
  expect(lines).toContain('ExecStart=/usr/bin/node /opt/matrix-turn-credentials/dist/src/main.js');
  for (const option of [
    'DynamicUser=yes',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'SystemCallFilter=@system-service',
    'CapabilityBoundingSet=',
    'EnvironmentFile=/etc/matrix-turn-credentials/environment',
  ]) {
    expect(lines).toContain(option);
  }
});

test('leaves MemoryDenyWriteExecute off and says why', () => {
  expect(activeLines(unit).filter((line) => line.startsWith('MemoryDenyWriteExecute'))).toEqual([]);
  expect(unit).toMatch(/# MemoryDenyWriteExecute=yes is left out on purpose: V8's JIT/);
});

test('stops later than the service drains', () => {
  expect(activeLines(unit)).toContain('TimeoutStopSec=15s');
});

test('its environment file and credential make a configuration the service accepts', () => {
  const credentials = join(dir, 'credentials');
  writeFileSync(credentials, 'systemd-example-secret');
  const env = environmentFile(exampleText('systemd/environment'));
  const fromUnit = Object.fromEntries(
    activeLines(unit)
      .filter((line) => line.startsWith('Environment='))
      .map((line) => line.slice('Environment='.length).split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  expect(fromUnit).toEqual({ TURN_SHARED_SECRET_FILE: '%d/turn_shared_secret', NODE_OPTIONS: '--max-old-space-size=160' });
  const config = loadConfig({ ...env, TURN_SHARED_SECRET_FILE: credentials });
  expect(config).toMatchObject({
    host: '127.0.0.1',
    trustProxy: true,
    auth: { method: 'whoami', homeserverUrl: 'https://matrix.example.org' },
  });
  expect(activeLines(unit)).toContain('LoadCredential=turn_shared_secret:/etc/matrix-turn-credentials/turn_shared_secret');
});
