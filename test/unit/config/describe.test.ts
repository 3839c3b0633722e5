// The configuration as logged at start (src/config/describe.ts): every secret masked, at
// the places the table of variables gives.

import { generateKeyPairSync } from 'node:crypto';
import { describeConfig, loadConfig } from '../../../src/config/index.js';
import { SECRET_PLACES } from '../../../src/config/variables.js';
import { BASE, temporaryFiles } from './fixtures.js';

const files = temporaryFiles();
const file = (contents: string) => files.file(contents);

describe('describeConfig', () => {
  it('masks every secret, inline or from a file', () => {
    const path = file('pw-in-file\n');
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    const withStatic = describeConfig(loadConfig({ ...noSecret, TURN_USERNAME: 'u', TURN_PASSWORD_FILE: path }));
    const withSecret = describeConfig(loadConfig({ ...BASE, REDIS_URL: 'redis://:redis-pass@127.0.0.1:6379' }));
    const text = JSON.stringify([withStatic, withSecret]);
    expect(text).not.toContain('pw-in-file');
    expect(text).not.toContain('base-secret');
    expect(text).not.toContain('redis-pass');
    expect(text).toContain(`<file ${path}>`);
  });
});

describe('describeConfig, from the table', () => {
  const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
  const AUTH = {
    introspection: {
      AUTH_METHOD: 'introspection',
      SERVER_NAME: 'example.org',
      INTROSPECTION_URL: 'https://auth.example.org/introspect',
      INTROSPECTION_CLIENT_ID: 'turn',
      INTROSPECTION_CLIENT_SECRET: 'client-secret-5e1',
    },
    jwt: { AUTH_METHOD: 'jwt', SERVER_NAME: 'example.org', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'turn' },
    appservice: { AUTH_METHOD: 'appservice', SERVER_NAME: 'example.org', APPSERVICE_HS_TOKEN: 'hs-token-5e2' },
  };
  const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const configs = () => [
    loadConfig({ ...BASE, ...AUTH.introspection, REDIS_URL: 'redis://:redis-pass-5e3@127.0.0.1:6379', REDIS_PASSWORD: 'redis-pass-5e4' }),
    loadConfig({ ...BASE, ...AUTH.jwt, JWT_PUBLIC_KEY: publicKey }),
    loadConfig({ ...noSecret, ...AUTH.appservice, TURN_USERNAME: 'u', TURN_PASSWORD_FILE: file('turn-pass-5e5\n') }),
    loadConfig({
      ...BASE,
      TURN_SECRET_ROTATION_INTERVAL: '3600',
      COTURN_REDIS_URL: 'redis://:coturn-pass-5e6@127.0.0.1:6379/2',
      COTURN_REALM: 'turn.example.org',
      LOG_USER_HASH_KEY: 'log-hash-key-5e7-0123456789',
    }),
  ];

  /** The dotted paths of every secret (an object holding a string `value`) in a value. */
  function secretPaths(value: unknown, at = ''): string[] {
    if (value === null || typeof value !== 'object') return [];
    if (typeof (value as { value?: unknown }).value === 'string') return [at];
    return Object.entries(value).flatMap(([key, child]) => secretPaths(child, at === '' ? key : `${at}.${key}`));
  }

  it('finds every secret of a Config at a place the table names, and masks it there', () => {
    const places = new Set(SECRET_PLACES.map((place) => place.at));
    const found = configs().flatMap((config) => secretPaths(config));
    expect(new Set(found)).toEqual(places);
    for (const config of configs()) expect(secretPaths(describeConfig(config))).toEqual([]);
  });

  it('shows the rest of the configuration as it is, the Redis URL without its password', () => {
    const [withRedis] = configs();
    const described = describeConfig(withRedis!) as {
      redis: { url: string; password: string };
      auth: { introspection: { clientSecret: string; url: string } };
    };
    expect(described.redis.url).toBe('redis://:****@127.0.0.1:6379');
    expect(described.redis.password).toBe('<set>');
    expect(described.auth.introspection).toEqual({ ...withRedis!.auth.introspection, clientSecret: '<set>' });
    expect(JSON.stringify(configs().map(describeConfig))).not.toMatch(/-5e\d/);
  });
});
