// The table of variables (src/config/variables.ts), seen through loadConfig: each default
// is the one VARIABLES states, each value from the environment is parsed by its variable's
// parser, and the configuration reference (docs/configuration.md) names every variable of the table.

import { loadConfig, SECRET_VARIABLES, VARIABLES } from '../../../src/config/index.js';
import { VARIABLE_TABLE } from '../../../src/config/variables.js';
import { readPage, sectionUnder } from '../docs/markdown.js';
import { BASE, problemFor, flatTurn } from './fixtures.js';

describe('defaults', () => {
  it('fills in every documented default', () => {
    const config = loadConfig(BASE);
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.metricsPort).toBe(9090);
    expect(config.logLevel).toBe('info');
    expect(config.trustProxy).toBe(false);
    expect(config.auth.method).toBe('whoami');
    expect(config.auth.upstreamTimeoutMs).toBe(5000);
    expect(config.tokenCache).toEqual({ ttlSeconds: 60, negativeTtlSeconds: 10, size: 100_000 });
    expect(config.turn.ttlSeconds).toBe(3600);
    expect(config.turn.allowGuests).toBe(true);
    expect(config.rateLimit).toMatchObject({ perSecond: 0.1, burst: 10, exemptUsers: [], onRedisError: 'local' });
    expect(config.redis).toBeUndefined();
  });

  it('agrees with the defaults VARIABLES documents', () => {
    const config = loadConfig(BASE);
    expect(String(config.port)).toBe(VARIABLES.PORT);
    expect(String(config.metricsPort)).toBe(VARIABLES.METRICS_PORT);
    expect(String(config.turn.ttlSeconds)).toBe(VARIABLES.TURN_TTL);
    expect(String(config.turn.allowGuests)).toBe(VARIABLES.TURN_ALLOW_GUESTS);
    expect(String(config.tokenCache.ttlSeconds)).toBe(VARIABLES.TOKEN_CACHE_TTL);
    expect(String(config.tokenCache.negativeTtlSeconds)).toBe(VARIABLES.TOKEN_CACHE_NEGATIVE_TTL);
    expect(String(config.tokenCache.size)).toBe(VARIABLES.TOKEN_CACHE_SIZE);
    expect(String(config.rateLimit.perSecond)).toBe(VARIABLES.RATE_LIMIT_PER_SECOND);
    expect(String(config.rateLimit.burst)).toBe(VARIABLES.RATE_LIMIT_BURST);
    expect(String(config.auth.upstreamTimeoutMs)).toBe(VARIABLES.UPSTREAM_TIMEOUT_MS);
  });

  it('returns a frozen object, all the way down', () => {
    const config = loadConfig(BASE);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.turn)).toBe(true);
    expect(Object.isFrozen(flatTurn(config).uris)).toBe(true);
    expect(Object.isFrozen(flatTurn(config).sharedSecret)).toBe(true);
  });
});

describe('values from the environment', () => {
  it('parses numbers, booleans, lists and URLs', () => {
    const config = loadConfig({
      ...BASE,
      PORT: '8448',
      METRICS_PORT: ' 9191 ',
      HOMESERVER_URL: 'https://matrix.example.org/',
      TURN_URIS:
        ' turn:a.example.org:3478?transport=udp , turns:a.example.org:5349?transport=tcp,stun:a.example.org,stuns:[2001:db8::1]:5349 ',
      TURN_TTL: '7200',
      TURN_ALLOW_GUESTS: 'no',
      TRUST_PROXY: 'yes',
      RATE_LIMIT_PER_SECOND: '.5',
      RATE_LIMIT_BURST: '3',
      RATE_LIMIT_EXEMPT_USERS: '@bot:example.org, @admin:example.org',
      TOKEN_CACHE_TTL: '30',
      TOKEN_CACHE_NEGATIVE_TTL: '5',
      TOKEN_CACHE_SIZE: '500',
      UPSTREAM_TIMEOUT_MS: '250',
      LOG_LEVEL: 'warn',
    });
    expect(config.port).toBe(8448);
    expect(config.metricsPort).toBe(9191);
    expect(config.auth.homeserverUrl).toBe('https://matrix.example.org');
    expect(flatTurn(config).uris).toEqual([
      'turn:a.example.org:3478?transport=udp',
      'turns:a.example.org:5349?transport=tcp',
      'stun:a.example.org',
      'stuns:[2001:db8::1]:5349',
    ]);
    expect(config.turn.ttlSeconds).toBe(7200);
    expect(config.turn.allowGuests).toBe(false);
    expect(config.trustProxy).toBe(true);
    expect(config.rateLimit).toMatchObject({ perSecond: 0.5, burst: 3, exemptUsers: ['@bot:example.org', '@admin:example.org'] });
    expect(config.tokenCache).toEqual({ ttlSeconds: 30, negativeTtlSeconds: 5, size: 500 });
    expect(config.auth.upstreamTimeoutMs).toBe(250);
    expect(config.logLevel).toBe('warn');
  });

  it('never keeps a refusal longer than an answer: the negative TTL is capped by TOKEN_CACHE_TTL', () => {
    expect(loadConfig({ ...BASE, TOKEN_CACHE_TTL: '3', TOKEN_CACHE_NEGATIVE_TTL: '10' }).tokenCache.negativeTtlSeconds).toBe(3);
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ ...BASE, HOME: '/root', SOMETHING_ELSE: 'x' })).not.toThrow();
  });
});

describe('TURN settings', () => {
  it.each(['http://turn.example.org', 'turn:', 'turn:turn.example.org:3478?transport=sctp', 'turn.example.org:3478', 'turn:host name'])(
    'refuses the TURN URI %s, naming it',
    (uri) => {
      expect(problemFor({ ...BASE, TURN_URIS: `turn:ok.example.org,${uri}` }, 'TURN_URIS')).toContain(`"${uri}"`);
    },
  );

  it('requires at least one TURN URI', () => {
    expect(problemFor({ ...BASE, TURN_URIS: ' , ' }, 'TURN_URIS')).toMatch(/required/);
    const { TURN_URIS: _omitted, ...withoutUris } = BASE;
    expect(problemFor(withoutUris, 'TURN_URIS')).toMatch(/required/);
  });

  it('keeps several comma-separated shared secrets in order (the first signs)', () => {
    expect(flatTurn(loadConfig({ ...BASE, TURN_SHARED_SECRET: 'new-secret,old-secret' })).sharedSecret).toEqual({
      value: 'new-secret,old-secret',
    });
  });

  it('refuses an empty entry in the list of secrets without showing the secrets', () => {
    const problem = problemFor({ ...BASE, TURN_SHARED_SECRET: 'abc-secret,,def-secret' }, 'TURN_SHARED_SECRET');
    expect(problem).toMatch(/empty entry/);
    expect(problem).not.toContain('abc-secret');
  });

  it('accepts a static username and password instead of a shared secret', () => {
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    const config = loadConfig({ ...noSecret, TURN_USERNAME: 'turnuser', TURN_PASSWORD: 'turnpass' });
    expect(flatTurn(config).sharedSecret).toBeUndefined();
    expect(flatTurn(config).username).toBe('turnuser');
    expect(flatTurn(config).password).toEqual({ value: 'turnpass' });
  });

  it('refuses half a static pair, both modes at once, and neither', () => {
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    expect(problemFor({ ...noSecret, TURN_USERNAME: 'turnuser' }, 'TURN_PASSWORD')).toMatch(/go together/);
    expect(problemFor({ ...noSecret, TURN_PASSWORD: 'turnpass' }, 'TURN_USERNAME')).toMatch(/go together/);
    expect(problemFor({ ...BASE, TURN_USERNAME: 'u', TURN_PASSWORD: 'p' }, 'TURN_SHARED_SECRET')).toMatch(/not both/);
    expect(problemFor(noSecret, 'TURN_SHARED_SECRET')).toMatch(/required/);
  });

  it.each([['0'], ['-5'], ['1h'], ['2592001']])('refuses TURN_TTL=%s', (ttl) => {
    expect(problemFor({ ...BASE, TURN_TTL: ttl }, 'TURN_TTL')).toMatch(/whole number/);
  });
});

describe('the configuration reference, docs/configuration.md', () => {
  const page = readPage('docs/configuration.md');
  const variables = sectionUnder(page, 'Variables');
  const fromSynapse = sectionUnder(page, "Moving from Synapse's own TURN settings");

  it.each(Object.keys(VARIABLES))('documents %s', (name) => {
    expect(variables).toMatch(new RegExp(`\`${name}\``));
  });

  it.each(SECRET_VARIABLES.map((name) => `${name}_FILE`))('documents %s', (name) => {
    expect(variables).toMatch(new RegExp(`\`${name}\``));
  });

  it.each([
    'turn_uris',
    'turn_shared_secret',
    'turn_shared_secret_path',
    'turn_username',
    'turn_password',
    'turn_user_lifetime',
    'turn_allow_guests',
  ])('maps the Synapse key %s', (key) => {
    expect(fromSynapse).toContain(`\`${key}\``);
  });
});

describe('the table', () => {
  const entries = Object.entries(VARIABLE_TABLE) as [
    string,
    { default?: string; schema: { safeParse(v: unknown): { success: boolean } }; secret?: unknown },
  ][];

  it('is where VARIABLES and SECRET_VARIABLES come from', () => {
    expect(VARIABLES).toEqual(Object.fromEntries(entries.map(([name, variable]) => [name, variable.default])));
    expect([...SECRET_VARIABLES]).toEqual(entries.filter(([, variable]) => variable.secret !== undefined).map(([name]) => name));
    expect([...SECRET_VARIABLES].sort()).toEqual(
      [
        'APPSERVICE_HS_TOKEN',
        'COTURN_REDIS_URL',
        'INTROSPECTION_CLIENT_SECRET',
        'JWT_PUBLIC_KEY',
        'LOG_USER_HASH_KEY',
        'REDIS_PASSWORD',
        'REDIS_URL',
        'TURN_PASSWORD',
        'TURN_SHARED_SECRET',
      ].sort(),
    );
  });

  it.each(entries.filter(([, variable]) => variable.default !== undefined))(
    'gives %s a default its own parser accepts, the same as unset',
    (_name, variable) => {
      const written = variable.schema.safeParse(variable.default);
      const unset = variable.schema.safeParse(undefined);
      expect(written.success).toBe(true);
      expect(unset).toEqual(written);
    },
  );
});
