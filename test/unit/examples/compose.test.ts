// The Compose example as Docker Compose would read it, without a Docker engine: valid
// against the Compose Specification's JSON schema (vendored in test/fixtures/compose-spec/),
// and consistent across its files: what it gives matrix-turn-credentials is a
// configuration the service accepts, the secret reaches the service and coturn from one
// file, Synapse has no TURN settings of its own and listens where the service asks it,
// and only Caddy is reachable from outside.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { loadConfig, VARIABLES } from '../../../src/config/index.js';
import { REPO_ROOT } from '../../helpers/tools.js';
import { activeLines, exampleText, exampleYaml } from './example-files.js';

interface ComposeService {
  image?: string;
  build?: { context: string };
  ports?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  networks?: string[];
  network_mode?: string;
  entrypoint?: string[];
  command?: string[];
  stop_grace_period?: string;
  read_only?: boolean;
  cap_drop?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: Record<string, { internal?: boolean }>;
  secrets: Record<string, { file: string }>;
}

const compose = exampleYaml('compose/docker-compose.yaml') as ComposeFile;
const service = compose.services['matrix-turn-credentials']!;
const SECRET_PATH = '/run/secrets/turn_shared_secret';

function composeValidator() {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/compose-spec/compose-spec.json'), 'utf8')) as object;
  // The schema is written for Compose's own validator: Ajv's strict mode rejects its union types.
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  addFormats.default(ajv);
  return ajv.compile(schema);
}

describe('the Compose file', () => {
  const validate = composeValidator();

  it('is valid against the Compose Specification', () => {
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
  });

  it('would be refused with a misspelt key, so the schema does check', () => {
    const broken = structuredClone(compose);
    (broken.services.redis as Record<string, unknown>).restat = 'always';
    expect(validate(broken)).toBe(false);
    expect(validate.errors).toContainEqual(expect.objectContaining({ params: { additionalProperty: 'restat' } }));
  });

  it('runs the five services, each image pinned to a version tag, the service built from this repository', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['caddy', 'coturn', 'matrix-turn-credentials', 'redis', 'synapse']);
    for (const [name, { image }] of Object.entries(compose.services)) {
      if (name === 'matrix-turn-credentials') continue;
      expect({ name, image }).toEqual({ name, image: expect.stringMatching(/^[\w./-]+:[\w.-]*\d[\w.-]*$/) });
    }
    expect(service).toMatchObject({ build: { context: '../..' }, image: 'matrix-turn-credentials:local' });
  });

  it('publishes ports for Caddy alone; Redis sits on an internal network with the service only', () => {
    for (const [name, { ports }] of Object.entries(compose.services)) if (name !== 'caddy') expect({ name, ports }).toEqual({ name });
    expect(compose.services.caddy!.ports).toEqual(['80:80', '443:443', '443:443/udp', '8448:8448']);
    expect(compose.networks.back).toEqual({ internal: true });
    const onBack = Object.entries(compose.services).filter(([, s]) => s.networks?.includes('back'));
    expect(onBack.map(([name]) => name).sort()).toEqual(['matrix-turn-credentials', 'redis']);
  });

  it('runs the service read-only, without capabilities, and stops it later than it drains', () => {
    expect(service).toMatchObject({ read_only: true, cap_drop: ['ALL'] });
    const graceSeconds = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1]);
    expect(graceSeconds * 1000).toBeGreaterThan(Number(VARIABLES.SHUTDOWN_TIMEOUT_MS));
  });
});

describe("the service's environment", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mtc-compose-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is a configuration the service accepts: whoami against Synapse, Redis, behind a trusted proxy', () => {
    const secretFile = join(dir, 'turn_shared_secret');
    writeFileSync(secretFile, 'compose-example-secret');
    expect(service.environment?.TURN_SHARED_SECRET_FILE).toBe(SECRET_PATH);
    const config = loadConfig({ ...service.environment, TURN_SHARED_SECRET_FILE: secretFile });
    expect(config.auth).toMatchObject({ method: 'whoami', homeserverUrl: 'http://synapse:8008' });
    expect(config.trustProxy).toBe(true);
    expect(config.redis?.url).toBeDefined();
    expect(service.environment?.REDIS_URL).toBe('redis://redis:6379');
  });

  it("takes the secret from the Compose secret that coturn's start reads too", () => {
    expect(compose.secrets).toEqual({ turn_shared_secret: { file: './secrets/turn_shared_secret' } });
    expect(service.secrets).toEqual(['turn_shared_secret']);
    const coturn = compose.services.coturn!;
    expect(coturn.secrets).toEqual(['turn_shared_secret']);
    expect(coturn.entrypoint).toEqual(['/bin/sh', '-c']);
    const start = coturn.command?.join(' ') ?? '';
    expect(start).toContain(`printf 'static-auth-secret=%s\\n' "$$(cat ${SECRET_PATH})"`);
    expect(start).toMatch(/exec turnserver -c \/tmp\/turnserver\.conf$/);
  });

  it('never commits the secret: the secrets folder ignores everything but its .gitignore', () => {
    expect(activeLines(exampleText('compose/secrets/.gitignore'))).toEqual(['*', '!.gitignore']);
  });
});

describe("Synapse's homeserver.yaml", () => {
  const homeserver = exampleYaml('compose/synapse/homeserver.yaml') as {
    server_name: string;
    public_baseurl: string;
    listeners: { port: number; x_forwarded?: boolean; resources: { names: string[] }[] }[];
    [key: string]: unknown;
  };

  it('sets no turn_* option: the turnServer route goes to matrix-turn-credentials', () => {
    expect(Object.keys(homeserver).filter((key) => key.startsWith('turn_'))).toEqual([]);
  });

  it('listens where HOMESERVER_URL points, for the client API, trusting the proxy for the client address', () => {
    const port = Number(new URL(service.environment!.HOMESERVER_URL!).port);
    expect(homeserver.listeners).toContainEqual(
      expect.objectContaining({
        port,
        x_forwarded: true,
        resources: [expect.objectContaining({ names: expect.arrayContaining(['client']) })],
      }),
    );
  });

  it('is served under the name Caddy serves', () => {
    expect(homeserver.public_baseurl).toBe(`https://${homeserver.server_name}/`);
    expect(activeLines(exampleText('compose/Caddyfile'))[0]).toContain(`${homeserver.server_name}, `);
  });
});

describe("coturn's turnserver.conf", () => {
  const lines = activeLines(exampleText('compose/coturn/turnserver.conf'));

  it('checks TURN REST API credentials with a realm, and holds no secret of its own', () => {
    expect(lines).toContain('use-auth-secret');
    expect(lines).toContain('realm=turn.example.org');
    expect(lines.filter((line) => line.startsWith('static-auth-secret'))).toEqual([]);
  });

  it('listens on the port TURN_URIS names, and offers no TLS that TURN_URIS does not use', () => {
    const uris = service.environment!.TURN_URIS!.split(',');
    expect(lines).toContain('listening-port=3478');
    for (const uri of uris) expect(uri).toMatch(/^turn:turn\.example\.org:3478\?transport=(udp|tcp)$/);
    expect(lines).toEqual(expect.arrayContaining(['no-tls', 'no-dtls']));
  });

  it('keeps relays off private, loopback and link-local networks, IPv4 and IPv6', () => {
    const denied = lines.filter((line) => line.startsWith('denied-peer-ip=')).map((line) => line.slice('denied-peer-ip='.length));
    expect(denied).toEqual(
      expect.arrayContaining([
        '10.0.0.0-10.255.255.255',
        '172.16.0.0-172.31.255.255',
        '192.168.0.0-192.168.255.255',
        '127.0.0.0-127.255.255.255',
        '169.254.0.0-169.254.255.255',
        '100.64.0.0-100.127.255.255',
        '::1',
        'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
        'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      ]),
    );
    expect(lines).toContain('no-multicast-peers');
  });

  it('says where external-ip goes for a host behind NAT', () => {
    expect(exampleText('compose/coturn/turnserver.conf')).toMatch(/Behind NAT[\s\S]*#external-ip=/);
  });
});
