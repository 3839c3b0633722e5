// Where settings come from (src/config/sources.ts): secrets as X_FILE, the YAML file named
// by CONFIG_FILE under the environment, and Synapse's turn_* keys pasted unchanged.

import { jest } from '@jest/globals';
import { join } from 'node:path';
import { loadConfig, SECRET_VARIABLES, VARIABLES } from '../../../src/config/index.js';
import { BASE, problemFor, problemsOf, temporaryFiles, flatTurn } from './fixtures.js';

const files = temporaryFiles();
const file = (contents: string) => files.file(contents);

describe('secrets given as files (X_FILE)', () => {
  it('reads the file, trims the trailing newline and remembers the path for re-reading', () => {
    const path = file('secret-from-file\n');
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    expect(flatTurn(loadConfig({ ...noSecret, TURN_SHARED_SECRET_FILE: path })).sharedSecret).toEqual({ value: 'secret-from-file', path });
  });

  it('offers the _FILE form for every secret', () => {
    const path = file('pw\n');
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    expect(flatTurn(loadConfig({ ...noSecret, TURN_USERNAME: 'u', TURN_PASSWORD_FILE: path })).password).toEqual({ value: 'pw', path });
    expect(SECRET_VARIABLES).toEqual(
      expect.arrayContaining(['TURN_SHARED_SECRET', 'TURN_PASSWORD', 'INTROSPECTION_CLIENT_SECRET', 'APPSERVICE_HS_TOKEN']),
    );
  });

  it('refuses both forms at once', () => {
    expect(problemFor({ ...BASE, TURN_SHARED_SECRET_FILE: file('x') }, 'TURN_SHARED_SECRET')).toMatch(/not both/);
  });

  it('names a missing or empty file without guessing its contents', () => {
    const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
    expect(problemFor({ ...noSecret, TURN_SHARED_SECRET_FILE: join(files.dir, 'absent') }, 'TURN_SHARED_SECRET_FILE')).toMatch(
      /cannot read .*absent.*ENOENT/,
    );
    expect(problemFor({ ...noSecret, TURN_SHARED_SECRET_FILE: file('  \n') }, 'TURN_SHARED_SECRET_FILE')).toMatch(/is empty/);
  });

  // The file's problem is the whole story: not also "TURN_SHARED_SECRET: required".
  const { TURN_SHARED_SECRET: _omitted, ...noSecret } = BASE;
  const JWT = { ...BASE, AUTH_METHOD: 'jwt', SERVER_NAME: 'example.org', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'turn' };
  it.each([
    ['TURN_SHARED_SECRET_FILE', noSecret],
    ['TURN_PASSWORD_FILE', { ...noSecret, TURN_USERNAME: 'turn-user' }],
    [
      'INTROSPECTION_CLIENT_SECRET_FILE',
      {
        ...BASE,
        AUTH_METHOD: 'introspection',
        SERVER_NAME: 'example.org',
        INTROSPECTION_URL: 'https://auth.example.org/introspect',
        INTROSPECTION_CLIENT_ID: 'turn',
      },
    ],
    ['APPSERVICE_HS_TOKEN_FILE', { ...BASE, AUTH_METHOD: 'appservice', SERVER_NAME: 'example.org' }],
    ['JWT_PUBLIC_KEY_FILE', JWT],
  ])('reports an unreadable or empty %s once, not also the secret as missing', (name, env) => {
    expect(problemsOf({ ...env, [name]: join(files.dir, 'absent') })).toEqual([
      expect.stringMatching(new RegExp(`^${name}: cannot read .*absent: ENOENT$`)),
    ]);
    expect(problemsOf({ ...env, [name]: file('\n') })).toEqual([expect.stringMatching(new RegExp(`^${name}: .* is empty$`))]);
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
    expect(flatTurn(config).uris).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp']);
    expect(flatTurn(config).sharedSecret).toEqual({ value: 'yaml-secret' });
    expect(config.port).toBe(8181);
    expect(config.turn.allowGuests).toBe(false);
    expect(config.rateLimit.perSecond).toBe(0.25);
    expect(config.rateLimit.exemptUsers).toEqual(['@bot:example.org']);
  });

  it('accepts every variable VARIABLES lists, in lower case', () => {
    const lines = Object.entries(VARIABLES)
      .filter(([name, value]) => value !== undefined && name !== 'CONFIG_FILE')
      .map(([name, value]) => `${name.toLowerCase()}: ${JSON.stringify(value)}`);
    const path = file(
      [...lines, 'homeserver_url: https://hs.example.org', 'turn_uris: turn:t.example.org', 'turn_shared_secret: s'].join('\n'),
    );
    expect(() => loadConfig({ CONFIG_FILE: path })).not.toThrow();
  });

  it('lets the environment win over the file', () => {
    const path = file(
      [
        'homeserver_url: https://file.example.org',
        'turn_uris: [turn:file.example.org]',
        'turn_shared_secret: file-secret',
        'turn_ttl: 600',
      ].join('\n'),
    );
    const config = loadConfig({ CONFIG_FILE: path, HOMESERVER_URL: 'https://env.example.org', TURN_TTL: '900' });
    expect(config.auth.homeserverUrl).toBe('https://env.example.org');
    expect(config.turn.ttlSeconds).toBe(900);
    expect(flatTurn(config).uris).toEqual(['turn:file.example.org']);
  });

  it('lets a secret in the environment win over the same secret in the file, in either form', () => {
    const secretFile = file('secret-in-a-file\n');
    const inFile = file(
      ['homeserver_url: https://hs.example.org', 'turn_uris: [turn:t.example.org]', `turn_shared_secret_path: ${secretFile}`].join('\n'),
    );
    expect(flatTurn(loadConfig({ CONFIG_FILE: inFile, TURN_SHARED_SECRET: 'env-secret' })).sharedSecret).toEqual({ value: 'env-secret' });
    const inline = file(
      ['homeserver_url: https://hs.example.org', 'turn_uris: [turn:t.example.org]', 'turn_shared_secret: file-secret'].join('\n'),
    );
    expect(flatTurn(loadConfig({ CONFIG_FILE: inline, TURN_SHARED_SECRET_FILE: secretFile })).sharedSecret).toEqual({
      value: 'secret-in-a-file',
      path: secretFile,
    });
  });

  it('names unknown keys, upper-case keys, a document that is not a mapping, bad YAML and a missing file', () => {
    expect(problemFor({ ...BASE, CONFIG_FILE: file('turn_urls: turn:x\n') }, 'CONFIG_FILE')).toMatch(/unknown setting "turn_urls"/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('TURN_TTL: 60\n') }, 'CONFIG_FILE')).toMatch(/unknown setting "TURN_TTL"/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('- a\n- b\n') }, 'CONFIG_FILE')).toMatch(/must be a mapping/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('turn_ttl: [unclosed\n') }, 'CONFIG_FILE')).toMatch(
      /is not valid YAML \(\w+ at line \d+, column \d+\)/,
    );
    const leaky = problemFor({ ...BASE, CONFIG_FILE: file('turn_shared_secret: "never-shown-4d2" x\n') }, 'CONFIG_FILE');
    expect(leaky).toMatch(/is not valid YAML/);
    expect(leaky).not.toContain('never-shown-4d2');
    expect(problemFor({ ...BASE, CONFIG_FILE: join(files.dir, 'no-such.yaml') }, 'CONFIG_FILE')).toMatch(
      /cannot read .*no-such\.yaml.*ENOENT/,
    );
    expect(problemFor({ ...BASE, CONFIG_FILE: file('turn_ttl: {a: 1}\n') }, 'turn_ttl')).toMatch(/must be a string/);
  });

  it('refuses a key named like a member of every object (toString, constructor) as unknown', () => {
    expect(problemFor({ ...BASE, CONFIG_FILE: file('toString: 1h\n') }, 'CONFIG_FILE')).toMatch(/unknown setting "toString"/);
    expect(problemFor({ ...BASE, CONFIG_FILE: file('constructor: x\n') }, 'CONFIG_FILE')).toMatch(/unknown setting "constructor"/);
  });

  it("never lets the YAML parser's warnings quote a line of the file on stderr (it may hold a secret)", () => {
    const warnings = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const path = file('turn_uris: turn:t.example.org\nturn_shared_secret: !unknown-tag a-secret-value\nhomeserver_url: http://hs\n');
      expect(flatTurn(loadConfig({ CONFIG_FILE: path })).sharedSecret?.value).toBe('a-secret-value');
      expect(warnings).not.toHaveBeenCalled();
    } finally {
      warnings.mockRestore();
    }
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
    expect(flatTurn(config).uris).toEqual(['turn:turn.example.com:3478?transport=udp', 'turn:turn.example.com:3478?transport=tcp']);
    expect(flatTurn(config).sharedSecret?.value).toBe('n0t4ctuAllymatr1Xd0TorgSshar3d5ecret4obvIousreAsons');
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
    expect(flatTurn(loadConfig({ HOMESERVER_URL: 'https://hs.example.org', CONFIG_FILE: path })).sharedSecret).toEqual({
      value: 'from-synapse-path',
      path: secretFile,
    });
  });

  it('reads turn_username and turn_password as the static pair, and turn_allow_guests: false', () => {
    const path = file(
      ['turn_uris: ["turn:t.example.org"]', 'turn_username: synapse-user', 'turn_password: synapse-pass', 'turn_allow_guests: false'].join(
        '\n',
      ),
    );
    const config = loadConfig({ HOMESERVER_URL: 'https://hs.example.org', CONFIG_FILE: path });
    expect(flatTurn(config).username).toBe('synapse-user');
    expect(flatTurn(config).password?.value).toBe('synapse-pass');
    expect(config.turn.allowGuests).toBe(false);
  });
});
