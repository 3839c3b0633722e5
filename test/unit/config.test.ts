import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicKeyRule } from '../../src/auth/jwt-public-key.js';
import { ConfigError, SECRET_VARIABLES, VARIABLES, describeConfig, loadConfig, parseSynapseDurationMs } from '../../src/config/index.js';
import { sharedSecretsProblem } from '../../src/turn/credentials.js';

const BASE = {
  HOMESERVER_URL: 'https://matrix.example.org',
  TURN_URIS: 'turn:turn.example.org:3478?transport=udp',
  TURN_SHARED_SECRET: 'base-secret',
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mtc-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function file(contents: string): string {
  const path = join(dir, `file-${(fileCount += 1)}`);
  writeFileSync(path, contents);
  return path;
}

/** The problems loadConfig reports, or a failure if it accepted the configuration. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('configuration was accepted');
}

function problemFor(env: Record<string, string>, name: string): string {
  const problems = problemsOf(env);
  const found = problems.find((p) => p.startsWith(`${name}:`));
  if (found === undefined) throw new Error(`no problem reported for ${name}; got ${JSON.stringify(problems)}`);
  return found;
}

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
    expect(Object.isFrozen(config.turn.uris)).toBe(true);
    expect(Object.isFrozen(config.turn.sharedSecret)).toBe(true);
  });
});

describe('values from the environment', () => {
  it('parses numbers, booleans, lists and URLs', () => {
    const config = loadConfig({
      ...BASE,
      PORT: '8448',
      METRICS_PORT: ' 9191 ',
      HOMESERVER_URL: 'https://matrix.example.org/',
      TURN_URIS: ' turn:a.example.org:3478?transport=udp , turns:a.example.org:5349?transport=tcp,stun:a.example.org,stuns:[2001:db8::1]:5349 ',
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
    expect(config.turn.uris).toEqual([
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
    expect(loadConfig({ ...BASE, TURN_SHARED_SECRET: 'new-secret,old-secret' }).turn.sharedSecret).toEqual({ value: 'new-secret,old-secret' });
  });

  it('refuses an empty entry in the list of secrets without showing the secrets', () => {
    const problem = problemFor({ ...BASE, TURN_SHARED_SECRET: 'abc-secret,,def-secret' }, 'TURN_SHARED_SECRET');
    expect(problem).toMatch(/empty entry/);
    expect(problem).not.toContain('abc-secret');
  });

  it('accepts a static username and password instead of a shared secret', () => {
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    const config = loadConfig({ ...noSecret, TURN_USERNAME: 'turnuser', TURN_PASSWORD: 'turnpass' });
    expect(config.turn.sharedSecret).toBeUndefined();
    expect(config.turn.username).toBe('turnuser');
    expect(config.turn.password).toEqual({ value: 'turnpass' });
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

describe('secrets given as files (X_FILE)', () => {
  it('reads the file, trims the trailing newline and remembers the path for re-reading', () => {
    const path = file('secret-from-file\n');
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    expect(loadConfig({ ...noSecret, TURN_SHARED_SECRET_FILE: path }).turn.sharedSecret).toEqual({ value: 'secret-from-file', path });
  });

  it('offers the _FILE form for every secret', () => {
    const path = file('pw\n');
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    expect(loadConfig({ ...noSecret, TURN_USERNAME: 'u', TURN_PASSWORD_FILE: path }).turn.password).toEqual({ value: 'pw', path });
    expect(SECRET_VARIABLES).toEqual(expect.arrayContaining(['TURN_SHARED_SECRET', 'TURN_PASSWORD', 'INTROSPECTION_CLIENT_SECRET', 'APPSERVICE_HS_TOKEN']));
  });

  it('refuses both forms at once', () => {
    expect(problemFor({ ...BASE, TURN_SHARED_SECRET_FILE: file('x') }, 'TURN_SHARED_SECRET')).toMatch(/not both/);
  });

  it('names a missing or empty file without guessing its contents', () => {
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    expect(problemFor({ ...noSecret, TURN_SHARED_SECRET_FILE: join(dir, 'absent') }, 'TURN_SHARED_SECRET_FILE')).toMatch(/cannot read .*absent.*ENOENT/);
    expect(problemFor({ ...noSecret, TURN_SHARED_SECRET_FILE: file('  \n') }, 'TURN_SHARED_SECRET_FILE')).toMatch(/is empty/);
  });

  // The file's problem is the whole story: not also "TURN_SHARED_SECRET: required".
  const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
  const JWT = { ...BASE, AUTH_METHOD: 'jwt', SERVER_NAME: 'example.org', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'turn' };
  it.each([
    ['TURN_SHARED_SECRET_FILE', noSecret],
    ['TURN_PASSWORD_FILE', { ...noSecret, TURN_USERNAME: 'turn-user' }],
    ['INTROSPECTION_CLIENT_SECRET_FILE', { ...BASE, AUTH_METHOD: 'introspection', SERVER_NAME: 'example.org', INTROSPECTION_URL: 'https://auth.example.org/introspect', INTROSPECTION_CLIENT_ID: 'turn' }],
    ['APPSERVICE_HS_TOKEN_FILE', { ...BASE, AUTH_METHOD: 'appservice', SERVER_NAME: 'example.org' }],
    ['JWT_PUBLIC_KEY_FILE', JWT],
  ])('reports an unreadable or empty %s once, not also the secret as missing', (name, env) => {
    expect(problemsOf({ ...env, [name]: join(dir, 'absent') })).toEqual([expect.stringMatching(new RegExp(`^${name}: cannot read .*absent: ENOENT$`))]);
    expect(problemsOf({ ...env, [name]: file('\n') })).toEqual([expect.stringMatching(new RegExp(`^${name}: .* is empty$`))]);
  });
});

describe('a static JWT_PUBLIC_KEY', () => {
  const JWT = { ...BASE, AUTH_METHOD: 'jwt', SERVER_NAME: 'example.org', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'turn' };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
  const jwk = (key: KeyObject, extra: Record<string, unknown> = {}) => ({ ...key.export({ format: 'jwk' }), ...extra });
  /** Part of the key's body (a PEM's base64, a JWK's numbers), or all of a short text: what must never be shown. */
  const material = (text: string) => {
    const body = text.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, '');
    return body.length > 60 ? body.slice(20, 60) : text;
  };

  it.each([
    ['PEM', () => pem(rsa.publicKey)],
    ['a JWK', () => JSON.stringify(jwk(ec.publicKey))],
    ['a JWK set', () => JSON.stringify({ keys: [jwk(ec.publicKey, { kid: 'ec-1' }), jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256', use: 'sig' })] })],
  ])('accepts %s, inline or as a file', (_form, text) => {
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY: text() }).auth.jwt?.publicKey).toEqual({ value: text() });
    const path = file(`${text()}\n`);
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY_FILE: path }).auth.jwt?.publicKey).toEqual({ value: text().trim(), path });
  });

  const corruptPem = pem(rsa.publicKey).replace(/(\n[A-Za-z0-9+/]{10})[A-Za-z0-9+/]{8}/, '$1ZZZZZZZZ').replace('MII', 'AII');
  it.each([
    ['an SSH key', () => `ssh-rsa ${material(pem(rsa.publicKey))} alice@example.org`, /the value is neither a PEM public key nor a JWK or JWK set$/],
    ['a PEM block that is no key', () => corruptPem, /the value is a PEM block that does not parse as a public key \(ERR_[A-Z0-9_]+\)$/],
    ['a private key PEM', () => rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), /the value is a private key; give the public key$/],
    ['a private JWK', () => JSON.stringify(rsa.privateKey.export({ format: 'jwk' })), /the value is a private JWK; give the public key$/],
    ['a JWK that does not import', () => JSON.stringify({ ...jwk(rsa.publicKey), n: 42 }), /the value is a JWK that does not import as a public key \(ERR_[A-Z_]+\)$/],
    ['a JWK set with a key that does not import', () => JSON.stringify({ keys: [jwk(ec.publicKey), { kty: 'oct', k: 'c2VjcmV0' }] }), /has a key that does not import as a public key \(key 2 of 2: ERR_[A-Z_]+\)$/],
    ['a JWK set with a private key', () => JSON.stringify({ keys: [rsa.privateKey.export({ format: 'jwk' })] }), /has private keys; give only public keys$/],
    ['an empty JWK set', () => '{"keys":[]}', /is a JWK set with no keys$/],
    ['broken JSON', () => `{"kty":"RSA","n":"${material(pem(rsa.publicKey))}`, /looks like JSON but does not parse$/],
  ])('refuses %s before start, naming JWT_PUBLIC_KEY and why, never the key', (_form, text, why) => {
    const problems = problemsOf({ ...JWT, JWT_PUBLIC_KEY: text() });
    expect(problems).toEqual([expect.stringMatching(/^JWT_PUBLIC_KEY: /)]);
    expect(problems[0]).toMatch(why);
    expect(problems[0]).not.toContain(material(text()));
  });

  it('names JWT_PUBLIC_KEY_FILE and its path for a key read from a file', () => {
    const path = file('not a key at all\n');
    expect(problemsOf({ ...JWT, JWT_PUBLIC_KEY_FILE: path })).toEqual([`JWT_PUBLIC_KEY_FILE: ${path} is neither a PEM public key nor a JWK or JWK set`]);
  });

  it('leaves JWT_PUBLIC_KEY alone when another AUTH_METHOD is chosen', () => {
    expect(() => loadConfig({ ...BASE, JWT_PUBLIC_KEY: 'not a key at all' })).not.toThrow();
  });

  it('refuses JWT_ALGORITHMS that can never verify with the key, naming what the key takes', () => {
    expect(problemsOf({ ...JWT, JWT_PUBLIC_KEY: pem(rsa.publicKey), JWT_ALGORITHMS: 'ES256,EdDSA' })).toEqual([
      'JWT_ALGORITHMS: ES256, EdDSA cannot verify any token with JWT_PUBLIC_KEY (a 2048-bit RSA key), which verifies only RS256, RS384, RS512, PS256, PS384, PS512',
    ]);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    expect(problemFor({ ...JWT, JWT_PUBLIC_KEY: pem(p384) }, 'JWT_ALGORITHMS')).toMatch(/^JWT_ALGORITHMS: RS256, ES256, EdDSA cannot .*\(an EC P-384 key\), which verifies only ES384$/);
    const pinned = JSON.stringify({ keys: [jwk(rsa.publicKey, { alg: 'RS384' })] });
    expect(problemFor({ ...JWT, JWT_PUBLIC_KEY: pinned, JWT_ALGORITHMS: 'RS256' }, 'JWT_ALGORITHMS')).toMatch(/marked alg "RS384"\), which verifies only RS384$/);
  });

  it('accepts algorithms that fit at least one key of a set', () => {
    const set = JSON.stringify({ keys: [jwk(rsa.publicKey), jwk(ec.publicKey)] });
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY: set, JWT_ALGORITHMS: 'ES256' }).auth.jwt?.algorithms).toEqual(['ES256']);
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY: pem(ec.publicKey), JWT_ALGORITHMS: 'RS256,ES256' }).auth.jwt?.algorithms).toEqual(['RS256', 'ES256']);
  });

  it.each([
    ['an X25519 key (for key agreement)', () => pem(generateKeyPairSync('x25519').publicKey), /holds only a key of type x25519, which cannot verify any JWT/],
    ['a 1024-bit RSA key', () => pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), /holds only a 1024-bit RSA key, which cannot verify any JWT/],
    ['a set of encryption keys', () => JSON.stringify({ keys: [jwk(rsa.publicKey, { use: 'enc' })] }), /holds only a 2048-bit RSA key marked use "enc", which/],
  ])('refuses %s, which can verify no JWT whatever the algorithms', (_what, text, why) => {
    expect(problemsOf({ ...JWT, JWT_PUBLIC_KEY: text() })).toEqual([expect.stringMatching(why)]);
  });

  it('checks the key and every other setting in the same message', () => {
    const names = problemsOf({ ...JWT, JWT_PUBLIC_KEY: 'garbage', PORT: 'eighty', JWT_ALGORITHMS: 'HS256' }).map((p) => p.slice(0, p.indexOf(':')));
    expect(names.sort()).toEqual(['JWT_ALGORITHMS', 'JWT_PUBLIC_KEY', 'PORT']);
  });
});

describe('the YAML file (CONFIG_FILE)', () => {
  it('takes the variable names in lower case, lists as YAML lists, and numbers and booleans as YAML scalars', () => {
    const path = file(
      [
        'homeserver_url: https://hs.example.org',
        'turn_uris:',
        '  - turn:turn.example.org:3478?transport=udp',
        '  - turns:turn.example.org:5349?transport=tcp',
        'turn_shared_secret: yaml-secret',
        'port: 8181',
        'turn_allow_guests: false',
        'rate_limit_per_second: 0.25',
        'rate_limit_exempt_users: ["@bot:example.org"]',
      ].join('\n'),
    );
    const config = loadConfig({ CONFIG_FILE: path });
    expect(config.auth.homeserverUrl).toBe('https://hs.example.org');
    expect(config.turn.uris).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp']);
    expect(config.turn.sharedSecret).toEqual({ value: 'yaml-secret' });
    expect(config.port).toBe(8181);
    expect(config.turn.allowGuests).toBe(false);
    expect(config.rateLimit.perSecond).toBe(0.25);
    expect(config.rateLimit.exemptUsers).toEqual(['@bot:example.org']);
  });

  it('accepts every variable VARIABLES lists, in lower case', () => {
    const lines = Object.entries(VARIABLES)
      .filter(([name, value]) => value !== undefined && name !== 'CONFIG_FILE')
      .map(([name, value]) => `${name.toLowerCase()}: ${JSON.stringify(value)}`);
    const path = file([...lines, 'homeserver_url: https://hs.example.org', 'turn_uris: turn:t.example.org', 'turn_shared_secret: s'].join('\n'));
    expect(() => loadConfig({ CONFIG_FILE: path })).not.toThrow();
  });

  it('lets the environment win over the file', () => {
    const path = file(['homeserver_url: https://file.example.org', 'turn_uris: [turn:file.example.org]', 'turn_shared_secret: file-secret', 'turn_ttl: 600'].join('\n'));
    const config = loadConfig({ CONFIG_FILE: path, HOMESERVER_URL: 'https://env.example.org', TURN_TTL: '900' });
    expect(config.auth.homeserverUrl).toBe('https://env.example.org');
    expect(config.turn.ttlSeconds).toBe(900);
    expect(config.turn.uris).toEqual(['turn:file.example.org']);
  });

  it('lets a secret in the environment win over the same secret in the file, in either form', () => {
    const secretFile = file('secret-in-a-file\n');
    const inFile = file(['homeserver_url: https://hs.example.org', 'turn_uris: [turn:t.example.org]', `turn_shared_secret_path: ${secretFile}`].join('\n'));
    expect(loadConfig({ CONFIG_FILE: inFile, TURN_SHARED_SECRET: 'env-secret' }).turn.sharedSecret).toEqual({ value: 'env-secret' });
    const inline = file(['homeserver_url: https://hs.example.org', 'turn_uris: [turn:t.example.org]', 'turn_shared_secret: file-secret'].join('\n'));
    expect(loadConfig({ CONFIG_FILE: inline, TURN_SHARED_SECRET_FILE: secretFile }).turn.sharedSecret).toEqual({ value: 'secret-in-a-file', path: secretFile });
  });

  it('names unknown keys, upper-case keys, a document that is not a mapping, bad YAML and a missing file', () => {
    expect(problemFor({ ...BASE, CONFIG_FILE: file('turn_urls: turn:x\n') }, 'CONFIG_FILE')).toMatch(/unknown setting "turn_urls"/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('TURN_TTL: 60\n') }, 'CONFIG_FILE')).toMatch(/unknown setting "TURN_TTL"/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('- a\n- b\n') }, 'CONFIG_FILE')).toMatch(/must be a mapping/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('turn_ttl: [unclosed\n') }, 'CONFIG_FILE')).toMatch(/is not valid YAML \(\w+ at line \d+, column \d+\)/);
    const leaky = problemFor({ ...BASE, CONFIG_FILE: file('turn_shared_secret: "never-shown-4d2" x\n') }, 'CONFIG_FILE');
    expect(leaky).toMatch(/is not valid YAML/);
    expect(leaky).not.toContain('never-shown-4d2');
    expect(problemFor({ ...BASE, CONFIG_FILE: join(dir, 'no-such.yaml') }, 'CONFIG_FILE')).toMatch(/cannot read .*no-such\.yaml.*ENOENT/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('turn_ttl: {a: 1}\n') }, 'turn_ttl')).toMatch(/must be a string/);
  });

  it('treats an empty file as no settings', () => {
    expect(loadConfig({ ...BASE, CONFIG_FILE: file('') }).turn.ttlSeconds).toBe(3600);
  });
});

describe("Synapse's turn_* settings, pasted unchanged", () => {
  const SYNAPSE_BLOCK = [
    'turn_uris: [ "turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp" ]',
    'turn_shared_secret: "n0t4ctuAllymatr1Xd0TorgSshar3d5ecret4obvIousreAsons"',
    'turn_user_lifetime: 1h',
    'turn_allow_guests: true',
  ].join('\n');

  it('reads the block from the Synapse documentation', () => {
    const config = loadConfig({ HOMESERVER_URL: 'https://hs.example.org', CONFIG_FILE: file(SYNAPSE_BLOCK) });
    expect(config.turn.uris).toEqual(['turn:turn.example.com:3478?transport=udp', 'turn:turn.example.com:3478?transport=tcp']);
    expect(config.turn.sharedSecret?.value).toBe('n0t4ctuAllymatr1Xd0TorgSshar3d5ecret4obvIousreAsons');
    expect(config.turn.ttlSeconds).toBe(3600);
    expect(config.turn.allowGuests).toBe(true);
  });

  it.each([
    ['1h', 3600],
    ['30m', 1800],
    ['2d', 172_800],
    ['1w', 604_800],
    ['90s', 90],
    ['86400000', 86_400],
    ['"86400000"', 86_400],
    ['5000ms', 5],
  ])('turn_user_lifetime: %s is %i seconds (a bare integer is milliseconds, as in Synapse)', (value, seconds) => {
    const path = file(`${SYNAPSE_BLOCK.replace('turn_user_lifetime: 1h', `turn_user_lifetime: ${value}`)}\n`);
    expect(loadConfig({ HOMESERVER_URL: 'https://hs.example.org', CONFIG_FILE: path }).turn.ttlSeconds).toBe(seconds);
  });

  it.each(['500', 'forever', '1.5h', '-1h'])('refuses turn_user_lifetime: %s', (value) => {
    const path = file(SYNAPSE_BLOCK.replace('turn_user_lifetime: 1h', `turn_user_lifetime: ${value}`));
    expect(problemFor({ HOMESERVER_URL: 'https://hs.example.org', CONFIG_FILE: path }, 'turn_user_lifetime')).toMatch(/duration/);
  });

  it('accepts our turn_ttl as seconds, or as a Synapse duration string', () => {
    expect(loadConfig({ ...BASE, CONFIG_FILE: file('turn_ttl: 120\n') }).turn.ttlSeconds).toBe(120);
    expect(loadConfig({ ...BASE, CONFIG_FILE: file('turn_ttl: 2h\n') }).turn.ttlSeconds).toBe(7200);
  });

  it('reads turn_shared_secret_path as the secret file', () => {
    const secretFile = file('from-synapse-path\n');
    const path = file([`turn_shared_secret_path: ${secretFile}`, 'turn_uris: ["turn:t.example.org"]'].join('\n'));
    expect(loadConfig({ HOMESERVER_URL: 'https://hs.example.org', CONFIG_FILE: path }).turn.sharedSecret).toEqual({ value: 'from-synapse-path', path: secretFile });
  });

  it('reads turn_username and turn_password as the static pair, and turn_allow_guests: false', () => {
    const path = file(['turn_uris: ["turn:t.example.org"]', 'turn_username: synapse-user', 'turn_password: synapse-pass', 'turn_allow_guests: false'].join('\n'));
    const config = loadConfig({ HOMESERVER_URL: 'https://hs.example.org', CONFIG_FILE: path });
    expect(config.turn.username).toBe('synapse-user');
    expect(config.turn.password?.value).toBe('synapse-pass');
    expect(config.turn.allowGuests).toBe(false);
  });

  it("parses Synapse's duration syntax", () => {
    expect(parseSynapseDurationMs(1500)).toBe(1500);
    expect(parseSynapseDurationMs('1500')).toBe(1500);
    expect(parseSynapseDurationMs('1y')).toBe(31_536_000_000);
    expect(parseSynapseDurationMs('10x')).toBeUndefined();
    expect(parseSynapseDurationMs(1.5)).toBeUndefined();
    expect(parseSynapseDurationMs(-1)).toBeUndefined();
    expect(parseSynapseDurationMs(true)).toBeUndefined();
  });
});

describe('invalid configuration', () => {
  it('names every bad setting at once, each with why', () => {
    let caught: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        METRICS_PORT: '70000',
        LOG_LEVEL: 'chatty',
        AUTH_METHOD: 'whoami',
        HOMESERVER_URL: 'ftp://hs.example.org',
        TURN_URIS: 'http://turn.example.org',
        TURN_SHARED_SECRET: 'top-secret-value,,',
        TURN_TTL: '0',
        TURN_ALLOW_GUESTS: 'maybe',
        RATE_LIMIT_PER_SECOND: 'fast',
        RATE_LIMIT_BURST: '0',
        RATE_LIMIT_EXEMPT_USERS: 'bob',
        TOKEN_CACHE_SIZE: '0',
        REDIS_URL: 'http://redis:6379',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    const named = error.problems.map((p) => p.slice(0, p.indexOf(':')));
    expect(new Set(named)).toEqual(
      new Set([
        'PORT',
        'METRICS_PORT',
        'LOG_LEVEL',
        'HOMESERVER_URL',
        'TURN_URIS',
        'TURN_SHARED_SECRET',
        'TURN_TTL',
        'TURN_ALLOW_GUESTS',
        'RATE_LIMIT_PER_SECOND',
        'RATE_LIMIT_BURST',
        'RATE_LIMIT_EXEMPT_USERS',
        'TOKEN_CACHE_SIZE',
        'REDIS_URL',
      ]),
    );
    for (const problem of error.problems) expect(problem).toMatch(/^[A-Z_]+: \S.{8,}/);
    expect(error.message.split('\n')[0]).toBe('Invalid configuration:');
    expect(error.message).not.toContain('top-secret-value');
  });

  it('still checks the settings that depend on others when a choice from a list is wrong', () => {
    const { HOMESERVER_URL: _omitted, ...noHomeserver } = BASE;
    const problems = problemsOf({ ...noHomeserver, LOG_LEVEL: 'chatty', TURN_ALLOW_GUESTS: 'maybe', TURN_SHARED_SECRET: 'a,,b' });
    expect(problems.map((p) => p.slice(0, p.indexOf(':'))).sort()).toEqual(['HOMESERVER_URL', 'LOG_LEVEL', 'TURN_ALLOW_GUESTS', 'TURN_SHARED_SECRET']);
    expect(problemsOf({ ...BASE, AUTH_METHOD: 'ldap', PORT: 'x', METRICS_PORT: 'x' }).map((p) => p.slice(0, p.indexOf(':'))).sort()).toEqual([
      'AUTH_METHOD',
      'METRICS_PORT',
      'PORT',
    ]);
  });

  it('requires HOMESERVER_URL for whoami, and refuses unknown AUTH_METHOD values', () => {
    const { HOMESERVER_URL: _omitted, ...noHomeserver } = BASE;
    expect(problemFor(noHomeserver, 'HOMESERVER_URL')).toMatch(/required when AUTH_METHOD is whoami/);
    expect(problemFor({ ...BASE, AUTH_METHOD: 'ldap' }, 'AUTH_METHOD')).toMatch(/whoami, introspection, jwt, appservice/);
  });

  it('refuses the metrics listener on the public port', () => {
    expect(problemFor({ ...BASE, PORT: '8080', METRICS_PORT: '8080' }, 'METRICS_PORT')).toMatch(/must differ from PORT/);
  });
});

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

describe("the README's configuration reference", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('<!-- section: configuration');
  const section = readme.slice(start, readme.indexOf('<!-- /section: configuration -->', start));

  it.each(Object.keys(VARIABLES))('documents %s', (name) => {
    expect(section).toMatch(new RegExp(`\`${name}\``));
  });

  it.each(SECRET_VARIABLES.map((name) => `${name}_FILE`))('documents %s', (name) => {
    expect(section).toMatch(new RegExp(`\`${name}\``));
  });

  it.each(['turn_uris', 'turn_shared_secret', 'turn_shared_secret_path', 'turn_username', 'turn_password', 'turn_user_lifetime', 'turn_allow_guests'])(
    'maps the Synapse key %s',
    (key) => {
      expect(section).toContain(`\`${key}\``);
    },
  );
});

// A secret file re-read while running is held to the rule applied here (secret-file.ts
// is given that rule by the minter and the verifier): the same verdict, in the same words.
describe('the rule of the start is the rule of every re-read', () => {
  const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
  const verdictAtStart = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return undefined;
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.join('\n');
      throw error;
    }
  };

  it.each([',new-s', 'new-s,', 'new-s,,old-s', ' , ', 'new-s, old-s', 'new-s'])('TURN_SHARED_SECRET_FILE holding %j', (contents) => {
    const atStart = verdictAtStart({ ...noSecret, TURN_SHARED_SECRET_FILE: file(`${contents}\n`) });
    const atReread = sharedSecretsProblem(contents.trim());
    expect({ refusedAtStart: atStart !== undefined, refusedAtReread: atReread !== undefined }).toEqual({ refusedAtStart: atReread !== undefined, refusedAtReread: atReread !== undefined });
    if (atReread !== undefined) expect(atStart).toBe(`TURN_SHARED_SECRET: ${atReread}`);
  });

  const JWT = { ...BASE, AUTH_METHOD: 'jwt', SERVER_NAME: 'example.org', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'turn' };
  const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  it.each([
    ['an RSA key for RS256', () => pem(rsa), 'RS256'],
    ['an RSA key for ES256 only', () => pem(rsa), 'ES256'],
    ['an EC P-384 key for the default algorithms', () => pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey), 'RS256,ES256,EdDSA'],
    ['a 1024-bit RSA key', () => pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), 'RS256'],
    ['an SSH key', () => 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIConfigTestKeyBody alice@example.org', 'EdDSA'],
  ])('JWT_PUBLIC_KEY_FILE holding %s', (_what, text, algorithms) => {
    const atStart = verdictAtStart({ ...JWT, JWT_PUBLIC_KEY_FILE: file(`${text()}\n`), JWT_ALGORITHMS: algorithms });
    const atReread = publicKeyRule(algorithms.split(','))(text());
    expect({ refusedAtStart: atStart !== undefined }).toEqual({ refusedAtStart: atReread !== undefined });
    if (atReread === undefined) return;
    // The same words, blamed on the same setting.
    const blamesAlgorithms = atReread.startsWith('breaks JWT_ALGORITHMS: ');
    expect(atStart).toMatch(blamesAlgorithms ? /^JWT_ALGORITHMS: / : /^JWT_PUBLIC_KEY_FILE: /);
    expect(atStart).toContain(atReread.replace(/^breaks JWT_ALGORITHMS: /, ''));
  });
});
