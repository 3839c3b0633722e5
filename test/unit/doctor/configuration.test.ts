// The doctor's first section (src/doctor/checks/configuration.ts): what each TURN server
// signs with, in words, managed secrets included; never a secret.

import { loadConfig } from '../../../src/config/index.js';
import { configurationSection } from '../../../src/doctor/checks/configuration.js';

const BASE = { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: 'turn:turn.example.org' };

describe("the doctor's configuration section", () => {
  const serverLine = (env: Record<string, string>) =>
    configurationSection(loadConfig({ ...BASE, ...env }), env).checks.find((check) => check.what === 'TURN server "default"');

  it("says a server with managed secrets rotates them in coturn's Redis, and whether a static secret is beside them", () => {
    const managed = {
      TURN_SECRET_ROTATION_INTERVAL: '3600',
      COTURN_REDIS_URL: 'redis://:coturn-pass-7a1@127.0.0.1:6379/2',
      COTURN_REALM: 'turn.example.org',
    };
    expect(serverLine(managed)?.detail).toBe(
      "turn:turn.example.org; managed secrets, a new one every 3600 s in coturn's Redis (realm turn.example.org)",
    );
    expect(serverLine({ ...managed, TURN_SHARED_SECRET: 'static-7a2' })?.detail).toMatch(/, beside a static shared secret$/);
    expect(JSON.stringify(configurationSection(loadConfig({ ...BASE, ...managed }), managed))).not.toContain('coturn-pass-7a1');
  });

  it('names a plain shared secret and a static user as before', () => {
    expect(serverLine({ TURN_SHARED_SECRET: 's' })?.detail).toBe('turn:turn.example.org; a shared secret (coturn REST API)');
    expect(serverLine({ TURN_USERNAME: 'turn-user', TURN_PASSWORD: 'p' })?.detail).toBe(
      'turn:turn.example.org; the static user "turn-user"',
    );
  });
});
