// The settings of managed secrets, as loadConfig reads them and the composition root maps
// them: TURN_SECRET_ROTATION_INTERVAL for the flat server, secret_rotation_interval on an
// entry of turn_servers (seconds or a duration), COTURN_REDIS_URL (or _FILE; redis:// or
// rediss://, a database and a password) and COTURN_REALM, TURN_SECRET_ROTATION_MARGIN;
// TURN_SHARED_SECRET then optional, kept as coturn's static-auth-secret. Off by default.
// Every bad setting named, the URL's password never shown.

import { turnServersOptions } from '../../../../src/app.js';
import { ConfigError, describeConfig, loadConfig } from '../../../../src/config/index.js';

const FILES: Record<string, string> = {};
function readFile(path: string): string {
  const text = FILES[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
}

const BASE = { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: 'turn:turn.example.org:3478?transport=udp' };
const MANAGED = {
  ...BASE,
  TURN_SECRET_ROTATION_INTERVAL: '86400',
  COTURN_REDIS_URL: 'redis://:coturn-db-password-77@redis.turn.svc:6379/2',
  COTURN_REALM: 'turn.example.org',
};

const load = (env: Record<string, string>) => loadConfig(env, { readFile });

function problems(env: Record<string, string>): readonly string[] {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('configuration was accepted');
}

function withYaml(lines: string[], env: Record<string, string> = {}): Record<string, string> {
  FILES['/etc/mtc.yaml'] = lines.join('\n');
  return { HOMESERVER_URL: 'https://matrix.example.org', CONFIG_FILE: '/etc/mtc.yaml', ...env };
}

describe('managed secrets in the configuration', () => {
  it('are off by default: no rotation, no coturn Redis', () => {
    const config = load({ ...BASE, TURN_SHARED_SECRET: 'static' });
    expect(config.turn.managedSecrets).toBeUndefined();
    expect(config.turn.servers[0]?.secretRotation).toBeUndefined();
    expect(turnServersOptions(config).servers[0]?.managedSecrets).toBeUndefined();
  });

  it('for the flat server: the interval, coturn’s Redis and realm, the margin; no shared secret needed', () => {
    const config = load({ ...MANAGED, TURN_SECRET_ROTATION_MARGIN: '30', REDIS_COMMAND_TIMEOUT_MS: '400' });
    expect(config.turn.servers).toEqual([
      { name: 'default', uris: ['turn:turn.example.org:3478?transport=udp'], secretRotation: { intervalSeconds: 86_400 } },
    ]);
    expect(config.turn.managedSecrets).toEqual({
      redis: { url: { value: MANAGED.COTURN_REDIS_URL }, tls: false, commandTimeoutMs: 400 },
      realm: 'turn.example.org',
      marginSeconds: 30,
    });
    expect(config.redis).toBeUndefined();
    expect(turnServersOptions(config).servers[0]).toMatchObject({
      name: 'default',
      ttlSeconds: 3600,
      managedSecrets: {
        server: 'default',
        realm: 'turn.example.org',
        rotationIntervalMs: 86_400_000,
        marginMs: 30_000,
        commandTimeoutMs: 400,
      },
    });
    expect(turnServersOptions(config).servers[0]?.credentials).toBeUndefined();
  });

  it('keep TURN_SHARED_SECRET as the static secret beside them; rediss:// means TLS; the URL may come from a file', () => {
    FILES['/run/secrets/coturn-redis-url'] = 'rediss://:from-file-pw@redis.turn.svc:6380/1\n';
    const { COTURN_REDIS_URL: _url, ...rest } = MANAGED;
    const config = load({ ...rest, COTURN_REDIS_URL_FILE: '/run/secrets/coturn-redis-url', TURN_SHARED_SECRET: 'static-secret' });
    expect(config.turn.servers[0]?.credential).toEqual({ kind: 'shared-secret', sharedSecrets: { value: 'static-secret' } });
    expect(config.turn.managedSecrets?.redis).toMatchObject({
      url: { value: 'rediss://:from-file-pw@redis.turn.svc:6380/1', path: '/run/secrets/coturn-redis-url' },
      tls: true,
    });
    expect(turnServersOptions(config).servers[0]?.credentials).toMatchObject({ kind: 'shared-secret' });
  });

  it('show coturn’s Redis without its password', () => {
    const described = JSON.stringify(describeConfig(load(MANAGED)));
    expect(described).not.toContain('coturn-db-password-77');
    expect(described).toContain('redis://:****@redis.turn.svc:6379/2');
  });

  it('name every setting they are missing or that does not fit them', () => {
    const { COTURN_REDIS_URL: _url, COTURN_REALM: _realm, ...missing } = MANAGED;
    expect(problems(missing)).toEqual([
      expect.stringMatching(/^COTURN_REDIS_URL: required with TURN_SECRET_ROTATION_INTERVAL/),
      expect.stringMatching(/^COTURN_REALM: required with TURN_SECRET_ROTATION_INTERVAL/),
    ]);
    expect(
      problems({ ...MANAGED, COTURN_REDIS_URL: 'http://redis:6379', COTURN_REALM: 'two words', TURN_SECRET_ROTATION_MARGIN: '-1' }),
    ).toEqual([
      'TURN_SECRET_ROTATION_MARGIN: must be a whole number from 0 to 86400',
      'COTURN_REDIS_URL: must be a redis:// or rediss:// URL',
      "COTURN_REALM: must be coturn's realm, one word such as turn.example.org",
    ]);
    expect(problems({ ...MANAGED, TURN_USERNAME: 'u', TURN_PASSWORD: 'p' })).toEqual([
      expect.stringMatching(/^TURN_SECRET_ROTATION_INTERVAL: managed secrets sign each user's own credential/),
    ]);
    expect(problems({ ...MANAGED, TURN_URIS: 'stun:stun.example.org' })).toEqual([
      'TURN_SECRET_ROTATION_INTERVAL: TURN_URIS of stun: URIs only have no credential to sign',
    ]);
    expect(problems(BASE)).toEqual([expect.stringMatching(/^TURN_SHARED_SECRET: required/)]);
  });

  it('on an entry of turn_servers: secret_rotation_interval in seconds or as a duration, for one entry at most', () => {
    const env = withYaml(
      [
        'turn_servers:',
        '  - name: eu',
        '    uris: ["turn:eu.example.org"]',
        '    secret_rotation_interval: 12h',
        '    ttl: 10m',
        '  - name: us',
        '    uris: ["turn:us.example.org"]',
        '    shared_secret: us-secret',
      ],
      { COTURN_REDIS_URL: 'redis://127.0.0.1:6379', COTURN_REALM: 'eu.example.org' },
    );
    const config = load(env);
    expect(config.turn.servers[0]).toEqual({
      name: 'eu',
      uris: ['turn:eu.example.org'],
      ttlSeconds: 600,
      secretRotation: { intervalSeconds: 43_200 },
    });
    const options = turnServersOptions(config).servers;
    expect(options[0]?.managedSecrets).toMatchObject({ server: 'eu', rotationIntervalMs: 43_200_000, marginMs: 60_000 });
    expect(options[1]?.managedSecrets).toBeUndefined();
  });

  it('on turn_servers entries: every misfit named by its path, and COTURN_* required', () => {
    const env = withYaml([
      'turn_servers:',
      '  - name: eu',
      '    uris: ["turn:eu.example.org"]',
      '    secret_rotation_interval: 3600',
      '  - name: us',
      '    uris: ["turn:us.example.org"]',
      '    secret_rotation_interval: 3600',
      '  - name: static',
      '    uris: ["turn:static.example.org"]',
      '    username: u',
      '    password: p',
      '    secret_rotation_interval: 3600',
      '  - name: stun',
      '    uris: ["stun:stun.example.org"]',
      '    secret_rotation_interval: soon',
    ]);
    expect(problems(env)).toEqual([
      "turn_servers[2].secret_rotation_interval: managed secrets sign each user's own credential: " +
        'they do not go with username and password',
      'turn_servers[3].secret_rotation_interval: must be a whole number of seconds from 1 to 2592000, or a duration such as 10m or 1h',
      'turn_servers[3].secret_rotation_interval: a server of stun: URIs only has no credential to sign',
      expect.stringMatching(/^COTURN_REDIS_URL: required with secret_rotation_interval/),
      expect.stringMatching(/^COTURN_REALM: required with secret_rotation_interval/),
    ]);
    const two = withYaml(
      [
        'turn_servers:',
        '  - name: eu',
        '    uris: ["turn:eu.example.org"]',
        '    secret_rotation_interval: 3600',
        '  - name: us',
        '    uris: ["turn:us.example.org"]',
        '    secret_rotation_interval: 3600',
      ],
      { COTURN_REDIS_URL: 'redis://127.0.0.1:6379', COTURN_REALM: 'example.org' },
    );
    expect(problems(two)).toEqual([
      'turn_servers[1].secret_rotation_interval: "eu" has managed secrets already: ' +
        'COTURN_REDIS_URL and COTURN_REALM name one set, for one server',
    ]);
    const flatToo = withYaml(['turn_servers:', '  - name: eu', '    uris: ["turn:eu.example.org"]', '    shared_secret: s'], {
      TURN_SECRET_ROTATION_INTERVAL: '3600',
    });
    expect(problems(flatToo)).toEqual([
      'TURN_SECRET_ROTATION_INTERVAL: with turn_servers (in CONFIG_FILE), set secret_rotation_interval on the entry instead',
    ]);
  });
});
