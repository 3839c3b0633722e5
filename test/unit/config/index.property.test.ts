// Property tests over loadConfig: any environment map, any CONFIG_FILE contents and any
// behaviour of the secret files either yields a frozen configuration or a ConfigError
// whose message is the list of problems: never another exception, never a stack trace,
// and never the value of a secret, there or in the masked dump logged at start.

import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, describeConfig, loadConfig, SECRET_VARIABLES, VARIABLES } from '../../../src/config/index.js';

const KNOWN = [...Object.keys(VARIABLES), ...SECRET_VARIABLES.map((name) => `${name}_FILE`)];
const name = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KNOWN) }, { weight: 1, arbitrary: fc.string() });
const value = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '1e309',
    'NaN',
    'true',
    'yes',
    'http://',
    'redis://:@',
    'turn:',
    ',,,',
    '@a:b',
    '\0',
    '65536',
    '0x10',
    '1.5',
    '.5',
  ),
  fc.integer().map(String),
  fc.double().map(String),
);
const envMap = fc.dictionary(name, fc.option(value, { nil: undefined }), { maxKeys: 12 });

/** A file system that answers some paths with arbitrary text and fails on others. */
const files = fc.dictionary(fc.string({ minLength: 1 }), fc.oneof(fc.string(), fc.constant(null)), { maxKeys: 4 });
function reader(contents: Record<string, string | null>) {
  return (path: string): string => {
    const text = contents[path];
    if (text === undefined || text === null) throw Object.assign(new Error(`ENOENT: no such file ${path}`), { code: 'ENOENT' });
    return text;
  };
}

/** Runs loadConfig and checks the only two acceptable outcomes. */
function loadSafely(env: Record<string, string | undefined>, readFile: (path: string) => string): string {
  try {
    const config = loadConfig(env, { readFile });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.auth)).toBe(true);
    return JSON.stringify(describeConfig(config));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw new Error(`loadConfig threw ${String(error)}, not a ConfigError`, { cause: error });
    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) expect(typeof problem).toBe('string');
    expect(error.message).not.toMatch(/\n\s+at /);
    return error.message;
  }
}

describe('configuration parsing (properties)', () => {
  test('arbitrary environment maps give a frozen configuration or a ConfigError, nothing else', () => {
    fc.assert(
      fc.property(envMap, files, (env, contents) => {
        loadSafely(env, reader(contents));
      }),
      { numRuns: 1000 },
    );
  });

  test('arbitrary environment maps on top of a valid one: the same', () => {
    const valid = { HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: 'turn:turn.example.org:3478', TURN_SHARED_SECRET: 's3cret' };
    fc.assert(
      fc.property(envMap, (env) => {
        loadSafely({ ...valid, ...env }, reader({}));
      }),
      { numRuns: 1000 },
    );
  });

  test('an arbitrary CONFIG_FILE (text, or YAML of arbitrary values) gives a configuration or a ConfigError', () => {
    const yamlDocument = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => stringify(v)),
      fc
        .dictionary(
          fc.oneof(
            fc.constantFrom(...KNOWN.map((k) => k.toLowerCase()), 'turn_user_lifetime', 'turn_uris', 'turn_allow_guests'),
            fc.string(),
          ),
          fc.jsonValue(),
        )
        .map((v) => stringify(v)),
      fc.constantFrom('a: [', '- 1\n- 2', '!!binary x', '&a [*a]', 'turn_user_lifetime: 1e400', '? [a]\n: b', 'port: !!float .nan'),
    );
    fc.assert(
      fc.property(yamlDocument, envMap, (document, env) => {
        loadSafely({ ...env, CONFIG_FILE: '/config.yaml' }, reader({ '/config.yaml': document }));
      }),
      { numRuns: 1000 },
    );
  });

  test('secret values never appear in a ConfigError or in the configuration dump', () => {
    const marker = fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'), minLength: 16, maxLength: 24 });
    const secrets = fc.record({
      TURN_SHARED_SECRET: fc.option(marker, { nil: undefined }),
      TURN_PASSWORD: fc.option(marker, { nil: undefined }),
      INTROSPECTION_CLIENT_SECRET: fc.option(marker, { nil: undefined }),
      APPSERVICE_HS_TOKEN: fc.option(marker, { nil: undefined }),
      REDIS_PASSWORD: fc.option(marker, { nil: undefined }),
      REDIS_URL_PASSWORD: fc.option(marker, { nil: undefined }),
      SECRET_FILE_CONTENT: fc.option(marker, { nil: undefined }),
    });
    const method = fc.constantFrom('whoami', 'introspection', 'appservice', 'jwt');
    // Half the runs without noise, so most of those load and the masked dump is checked too.
    fc.assert(
      fc.property(secrets, method, fc.oneof(fc.constant({}), envMap), (s, authMethod, noise) => {
        const env: Record<string, string | undefined> = {
          ...noise,
          AUTH_METHOD: authMethod,
          HOMESERVER_URL: 'https://matrix.example.org',
          SERVER_NAME: 'example.org',
          INTROSPECTION_URL: 'https://auth.example.org/oauth2/introspect',
          INTROSPECTION_CLIENT_ID: 'turn',
          TURN_URIS: 'turn:turn.example.org:3478',
          TURN_USERNAME: s.TURN_PASSWORD === undefined ? undefined : 'static',
          TURN_SHARED_SECRET: s.TURN_SHARED_SECRET,
          TURN_PASSWORD: s.TURN_PASSWORD,
          INTROSPECTION_CLIENT_SECRET: s.INTROSPECTION_CLIENT_SECRET,
          APPSERVICE_HS_TOKEN: s.APPSERVICE_HS_TOKEN,
          REDIS_PASSWORD: s.REDIS_PASSWORD,
          REDIS_URL: s.REDIS_URL_PASSWORD === undefined ? undefined : `redis://:${s.REDIS_URL_PASSWORD}@127.0.0.1:6379`,
          ...(s.SECRET_FILE_CONTENT !== undefined && { TURN_SHARED_SECRET: undefined, TURN_SHARED_SECRET_FILE: '/run/secrets/turn' }),
        };
        const text = loadSafely(
          env,
          reader(s.SECRET_FILE_CONTENT === undefined ? {} : { '/run/secrets/turn': `${s.SECRET_FILE_CONTENT}\n` }),
        );
        for (const secret of Object.values(s)) if (secret !== undefined) expect(text).not.toContain(secret);
      }),
      { numRuns: 1000 },
    );
  });
});
