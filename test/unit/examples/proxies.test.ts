// The proxy examples route as their comments say: each of the three turnServer paths to
// matrix-turn-credentials with its path unchanged, and the homeserver's paths (the client
// API, Synapse's own pages, federation's .well-known) to the homeserver. Read in the
// order each proxy applies its rules (proxy-routing.ts), since no proxy runs here.

import { activeLines, exampleText } from './example-files.js';
import { apacheRoute, caddyRoute, haproxyRoute, type Destination } from './proxy-routing.js';

const TURN_SERVER_PATHS = [
  '/_matrix/client/v3/voip/turnServer',
  '/_matrix/client/r0/voip/turnServer',
  '/_matrix/client/api/v1/voip/turnServer',
];
const HOMESERVER_PATHS = [
  '/_matrix/client/v3/sync',
  '/_matrix/client/v3/account/whoami',
  '/_matrix/client/v3/voip',
  '/_matrix/federation/v1/version',
  '/_synapse/client/new_user_consent',
  '/.well-known/matrix/server',
];

function expectRoutes(
  route: (path: string) => Destination | undefined,
  service: string,
  homeserver: string,
  homeserverPaths = HOMESERVER_PATHS,
): void {
  for (const path of TURN_SERVER_PATHS) expect({ path, to: route(path) }).toEqual({ path, to: { upstream: service, path } });
  for (const path of homeserverPaths) expect({ path, to: route(path)?.upstream }).toEqual({ path, to: homeserver });
}

describe('Caddy (compose/Caddyfile)', () => {
  const caddyfile = exampleText('compose/Caddyfile');

  it('sends the turnServer paths to matrix-turn-credentials and everything else to Synapse, by their Compose names', () => {
    expectRoutes((path) => caddyRoute(caddyfile, path), 'matrix-turn-credentials:8080', 'synapse:8008');
  });

  it('tries the turnServer matcher before the catch-all: reversed, the catch-all would take every path', () => {
    const reversed = caddyfile.replace(
      /(\t\treverse_proxy @turnServer .+\n)(\t\treverse_proxy synapse:8008\n)/,
      (_all, turn: string, rest: string) => rest + turn,
    );
    expect(reversed).not.toBe(caddyfile);
    expect(caddyRoute(reversed, TURN_SERVER_PATHS[0]!)?.upstream).toBe('synapse:8008');
  });

  it('serves the homeserver name on 443 and 8448', () => {
    expect(activeLines(caddyfile)[0]).toBe('matrix.example.org, matrix.example.org:8448 {');
  });
});

describe('HAProxy (haproxy/haproxy.cfg)', () => {
  const config = exampleText('haproxy/haproxy.cfg');

  it('sends the turnServer paths to matrix-turn-credentials and everything else to the homeserver', () => {
    expectRoutes((path) => haproxyRoute(config, path), '127.0.0.1:8080', '127.0.0.1:8008');
  });

  it('appends the client to X-Forwarded-For and checks /readyz, so a draining replica gets no new requests', () => {
    const lines = activeLines(config);
    expect(lines).toContain('option forwardfor');
    expect(lines).toContain('option httpchk GET /readyz');
    expect(lines).toContain('http-check expect status 200');
  });
});

describe('Apache httpd (apache/turn-credentials.conf)', () => {
  const snippet = exampleText('apache/turn-credentials.conf');
  // The virtual host as the file's own comment tells the reader to write it: the snippet
  // included above the homeserver's ProxyPass.
  const homeserverLines = snippet
    .split('\n')
    .filter((line) => /^#\s+ProxyPass /.test(line))
    .map((line) => line.replace(/^#\s+/, ''));
  const vhost = [...activeLines(snippet), ...homeserverLines];

  it("sends the turnServer paths to matrix-turn-credentials when included above the homeserver's ProxyPass", () => {
    expect(homeserverLines).toEqual([
      'ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon',
      'ProxyPass /_synapse/client http://127.0.0.1:8008/_synapse/client nocanon',
    ]);
    // Synapse's own Apache example proxies these two prefixes only (.well-known is the server name's host's).
    const proxied = HOMESERVER_PATHS.filter((path) => !path.startsWith('/.well-known/'));
    expectRoutes((path) => apacheRoute(vhost, path), '127.0.0.1:8080', '127.0.0.1:8008', proxied);
  });

  it('would lose them below it, as the comment warns', () => {
    expect(apacheRoute([...homeserverLines, ...activeLines(snippet)], TURN_SERVER_PATHS[0]!)?.upstream).toBe('127.0.0.1:8008');
  });

  it('keeps the Host and says the scheme was https', () => {
    expect(activeLines(snippet)).toEqual(expect.arrayContaining(['ProxyPreserveHost On', 'RequestHeader set X-Forwarded-Proto "https"']));
  });
});
