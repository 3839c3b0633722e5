// The demo's configuration, as the service's own loader reads it, and the text it prints:
// loopback only, the ports the operator asks for and nothing else taken from the shell,
// a placeholder TURN server that no probe contacts, the label, the token and a curl line
// that names the service's route.

import { loadConfig } from '../../../src/config/index.js';
import { DEMO_LABEL, curlLine, demoBanner } from '../../../src/demo/banner.js';
import { DEMO_TURN_URI, DEMO_USER, demoEnvironment } from '../../../src/demo/demo-environment.js';

const inputs = { homeserverUrl: 'http://127.0.0.1:40001', sharedSecret: 'demo-run-secret' };

describe('demoEnvironment', () => {
  it('configures the service on 127.0.0.1:8080 (metrics 9090) against the stand-in, with the placeholder TURN server', () => {
    const config = loadConfig(demoEnvironment({ ...inputs, env: {} }));
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, metricsPort: 9090, logLevel: 'info' });
    expect(config.auth).toMatchObject({ method: 'whoami', homeserverUrl: 'http://127.0.0.1:40001' });
    expect(JSON.stringify(config.turn)).toContain(DEMO_TURN_URI);
    expect(config.turn.healthCheck.intervalSeconds).toBe(0);
  });

  it('takes PORT, METRICS_PORT and LOG_LEVEL from the shell, and nothing else', () => {
    const env = {
      PORT: '18080',
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
      HOST: '0.0.0.0',
      HOMESERVER_URL: 'https://matrix.example.org',
      TURN_URIS: 'turn:elsewhere.example.org',
      REDIS_URL: 'redis://127.0.0.1:6379',
      CONFIG_FILE: '/nonexistent/config.yaml',
    };
    const config = loadConfig(demoEnvironment({ ...inputs, env }));
    expect(config).toMatchObject({ host: '127.0.0.1', port: 18080, metricsPort: 0, logLevel: 'warn' });
    expect(config.auth).toMatchObject({ homeserverUrl: 'http://127.0.0.1:40001' });
    expect(JSON.stringify(config.turn)).not.toContain('elsewhere');
    expect(config.redis).toBeUndefined();
  });
});

describe('the banner', () => {
  const banner = demoBanner({
    serviceUrl: 'http://127.0.0.1:8080',
    metricsUrl: 'http://127.0.0.1:9090/metrics',
    standInUrl: 'http://127.0.0.1:40001',
    token: 'demo_abc',
    user: DEMO_USER,
    turnUri: DEMO_TURN_URI,
  });

  it('says first that this is a demo, then gives the token and the exact request to try', () => {
    const lines = banner.split('\n').filter((line) => line !== '');
    expect(lines[0]).toBe(DEMO_LABEL);
    expect(DEMO_LABEL).toBe('DEMO: a stand-in homeserver, not for production');
    expect(lines).toContain('Access token: demo_abc');
    expect(lines).toContain(`  ${curlLine('http://127.0.0.1:8080', 'demo_abc')}`);
    expect(banner).toContain('a placeholder');
  });

  it("names the service's v3 turnServer route in the curl line, with the token as a bearer token", () => {
    expect(curlLine('http://127.0.0.1:8080', 'demo_abc')).toBe(
      "curl -s -H 'Authorization: Bearer demo_abc' http://127.0.0.1:8080/_matrix/client/v3/voip/turnServer",
    );
  });
});
