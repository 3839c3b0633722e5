// The `turn_servers:` section (src/config/turn-servers.ts), read from a YAML file as the
// reader will once it is declared structured: a typed list of servers, or every problem
// named by its path, never with a secret's value.

import { ConfigError, describeConfig, loadConfig } from '../../../src/config/index.js';
import { readConfigFile } from '../../../src/config/sources.js';
import { parseStructured } from '../../../src/config/structured.js';
import { turnServersSetting } from '../../../src/config/turn-servers.js';

const SETTINGS = { turn_servers: turnServersSetting };
const FILES: Record<string, string> = {};
function readFile(path: string): string {
  const text = FILES[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
}

function read(yaml: string) {
  FILES['/config.yaml'] = yaml;
  const problems: string[] = [];
  const sources = readConfigFile('/config.yaml', readFile, SETTINGS, problems);
  return { servers: parseStructured(sources.structured, SETTINGS, { readFile }, problems).turn_servers, problems };
}

describe('turn_servers', () => {
  it('reads each server: its name, URIs, own credential (inline or from a file) and optional lifetime', () => {
    FILES['/run/secrets/eu-password'] = 'eu-password-3c1\n';
    const { servers, problems } = read(
      [
        'turn_servers:',
        '  - name: eu',
        '    uris: ["turn:eu.example.org:3478?transport=udp", "turns:eu.example.org:5349?transport=tcp"]',
        '    username: turn-user',
        '    password_file: /run/secrets/eu-password',
        '    ttl: 10m',
        '  - name: us',
        '    uris: ["turn:us.example.org"]',
        '    shared_secret: new-secret-9f0,old-secret-9f0',
        '    ttl: 120',
        '  - name: asia',
        '    uris: ["turn:asia.example.org"]',
        '    shared_secret: asia-secret-2b7',
      ].join('\n'),
    );
    expect(problems).toEqual([]);
    expect(servers).toEqual([
      {
        name: 'eu',
        uris: ['turn:eu.example.org:3478?transport=udp', 'turns:eu.example.org:5349?transport=tcp'],
        credential: { kind: 'static', username: 'turn-user', password: { value: 'eu-password-3c1', path: '/run/secrets/eu-password' } },
        ttlSeconds: 600,
      },
      {
        name: 'us',
        uris: ['turn:us.example.org'],
        credential: { kind: 'shared-secret', sharedSecrets: { value: 'new-secret-9f0,old-secret-9f0' } },
        ttlSeconds: 120,
      },
      { name: 'asia', uris: ['turn:asia.example.org'], credential: { kind: 'shared-secret', sharedSecrets: { value: 'asia-secret-2b7' } } },
    ]);
  });

  it('names every problem by its path at once, without the secrets', () => {
    const { servers, problems } = read(
      [
        'turn_servers:',
        '  - name: eu',
        '    uris: ["turn:eu.example.org", "http://eu.example.org"]',
        '    shared_secret: "never-shown-7d1,,"',
        '    secret: never-shown-7d2',
        '  - name: eu',
        '    uris: []',
        '  - name: both',
        '    uris: ["turn:b.example.org"]',
        '    shared_secret: never-shown-7d3',
        '    username: u',
        '    password: never-shown-7d4',
        '  - name: half',
        '    uris: ["turn:h.example.org"]',
        '    username: u',
        '    ttl: forever',
        '  - name: files',
        '    uris: ["turn:f.example.org"]',
        '    shared_secret_file: /run/secrets/absent',
      ].join('\n'),
    );
    expect(servers).toBeUndefined();
    expect(problems).toEqual([
      'turn_servers[0].uris[1]: "http://eu.example.org" is not a turn:, turns:, stun: or stuns: URI ' +
        'such as turn:turn.example.org:3478?transport=udp',
      'turn_servers[0]: unknown setting "secret"',
      'turn_servers[0].shared_secret: has an empty entry in its comma-separated list',
      'turn_servers[1].uris: must list at least one URI',
      'turn_servers[1]: needs a credential: shared_secret (or shared_secret_file), or username and password (or password_file)',
      'turn_servers[2]: set either shared_secret or username and password, not both',
      'turn_servers[3].ttl: must be a whole number of seconds from 1 to 2592000, or a duration such as 10m or 1h',
      'turn_servers[3].password: username and password go together',
      'turn_servers[4].shared_secret_file: cannot read /run/secrets/absent: ENOENT',
    ]);
    expect(problems.join('\n')).not.toMatch(/never-shown/);
  });

  it('refuses two servers of the same name, and a section that is no list of servers', () => {
    const twice = [
      'turn_servers:',
      '  - {name: eu, uris: ["turn:a.example.org"], shared_secret: s}',
      '  - {name: eu, uris: ["turn:b.example.org"], shared_secret: s}',
    ];
    expect(read(twice.join('\n')).problems).toEqual(['turn_servers[1].name: "eu" names another server already']);
    expect(read('turn_servers: turn:a.example.org\n').problems).toEqual([
      'turn_servers: must be a list of TURN servers, each a mapping with name, uris and a credential',
    ]);
    expect(read('turn_servers: []\n').problems).toEqual(['turn_servers: must list at least one TURN server']);
  });

  it.each([
    [3600, 3600],
    ['90s', 90],
    ['1h', 3600],
    ['5000ms', 5],
  ])('reads ttl: %j as %i seconds', (ttl, seconds) => {
    const { servers } = read(`turn_servers: [{name: a, uris: ["turn:a.example.org"], shared_secret: s, ttl: ${JSON.stringify(ttl)}}]\n`);
    expect(servers?.[0]?.ttlSeconds).toBe(seconds);
  });

  it.each([0, '500ms', '31d', 1.5, 'soon'])('refuses ttl: %j', (ttl) => {
    expect(
      read(`turn_servers: [{name: a, uris: ["turn:a.example.org"], shared_secret: s, ttl: ${JSON.stringify(ttl)}}]\n`).problems,
    ).toEqual([expect.stringMatching(/^turn_servers\[0\]\.ttl: must be a whole number of seconds/)]);
  });
});

describe('turn_servers in the configuration', () => {
  const load = (yaml: string, env: Record<string, string> = {}) => {
    FILES['/etc/mtc.yaml'] = yaml;
    return loadConfig({ CONFIG_FILE: '/etc/mtc.yaml', ...env }, { readFile });
  };
  const problems = (yaml: string, env: Record<string, string> = {}) => {
    try {
      load(yaml, env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };
  const LIST = [
    'homeserver_url: https://matrix.example.org',
    'turn_server_selection: spread',
    'turn_servers:',
    '  - {name: eu, uris: ["turn:eu.example.org"], shared_secret: eu-secret-51c}',
    '  - {name: public-stun, uris: ["stun:stun.example.net:3478"]}',
  ].join('\n');

  it('replace TURN_URIS: the servers in order, a stun:-only one without a credential, the selection and the checks', () => {
    const config = load(LIST, { TURN_HEALTH_CHECK_INTERVAL: '10', TURN_HEALTH_CHECK_TIMEOUT_MS: '1500' });
    expect(config.turn.servers.map((server) => [server.name, server.uris, server.credential?.kind])).toEqual([
      ['eu', ['turn:eu.example.org'], 'shared-secret'],
      ['public-stun', ['stun:stun.example.net:3478'], undefined],
    ]);
    expect(config.turn.selection).toBe('spread');
    expect(config.turn.healthCheck).toEqual({ intervalSeconds: 10, timeoutMs: 1500 });
  });

  it('health checks every 30 s with a 2 s timeout unless told otherwise; the flat settings make one server named default', () => {
    const config = loadConfig({ HOMESERVER_URL: 'https://matrix.example.org', TURN_URIS: 'turn:t.example.org', TURN_SHARED_SECRET: 's' });
    expect(config.turn.healthCheck).toEqual({ intervalSeconds: 30, timeoutMs: 2000 });
    expect(config.turn.selection).toBe('first');
    expect(config.turn.servers).toEqual([
      { name: 'default', uris: ['turn:t.example.org'], credential: { kind: 'shared-secret', sharedSecrets: { value: 's' } } },
    ]);
  });

  it('refuse the flat TURN settings beside the list, naming the one given', () => {
    expect(problems(LIST, { TURN_URIS: 'turn:t.example.org' })).toEqual([
      'TURN_URIS: set either turn_servers (in CONFIG_FILE) or TURN_URIS with its credential, not both',
    ]);
    expect(problems(LIST, { TURN_SHARED_SECRET: 'x' })).toEqual([
      'TURN_SHARED_SECRET: set either turn_servers (in CONFIG_FILE) or TURN_URIS with its credential, not both',
    ]);
  });

  it('still require TURN_URIS without a list, and a credential unless every URI is stun:', () => {
    expect(problems('homeserver_url: https://matrix.example.org\n')).toEqual([
      'TURN_URIS: required: comma-separated turn:/turns: URIs (or turn_servers in CONFIG_FILE)',
      'TURN_SHARED_SECRET: required (or TURN_SHARED_SECRET_FILE, or TURN_USERNAME and TURN_PASSWORD)',
    ]);
    expect(problems('homeserver_url: https://matrix.example.org\n', { TURN_URIS: 'stun:stun.example.net' })).toEqual([]);
    expect(problems('homeserver_url: https://matrix.example.org\n', { TURN_URIS: 'stun:stun.example.net,turn:t.example.org' })).toEqual([
      'TURN_SHARED_SECRET: required (or TURN_SHARED_SECRET_FILE, or TURN_USERNAME and TURN_PASSWORD)',
    ]);
  });

  it.each([
    ['TURN_SERVER_SELECTION', 'random', 'TURN_SERVER_SELECTION: '],
    ['TURN_HEALTH_CHECK_INTERVAL', '-1', 'TURN_HEALTH_CHECK_INTERVAL: must be a whole number from 0 to 86400'],
    ['TURN_HEALTH_CHECK_TIMEOUT_MS', '10', 'TURN_HEALTH_CHECK_TIMEOUT_MS: must be a whole number from 100 to 60000'],
  ])('refuse %s=%s', (name, value, message) => {
    expect(problems(LIST, { [name]: value })).toEqual([expect.stringContaining(message)]);
  });

  it("mask every server's secret when the configuration is described", () => {
    const described = JSON.stringify(describeConfig(load(LIST)));
    expect(described).not.toContain('eu-secret-51c');
    expect(described).toContain('"sharedSecrets":"<set>"');
  });
});
