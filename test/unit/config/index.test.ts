// loadConfig as a whole (src/config/index.ts): invalid configuration named all at once,
// each problem with why, whichever module found it.

import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { BASE, problemFor, problemsOf } from './fixtures.js';

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
    expect(problems.map((p) => p.slice(0, p.indexOf(':'))).sort()).toEqual([
      'HOMESERVER_URL',
      'LOG_LEVEL',
      'TURN_ALLOW_GUESTS',
      'TURN_SHARED_SECRET',
    ]);
    expect(
      problemsOf({ ...BASE, AUTH_METHOD: 'ldap', PORT: 'x', METRICS_PORT: 'x' })
        .map((p) => p.slice(0, p.indexOf(':')))
        .sort(),
    ).toEqual(['AUTH_METHOD', 'METRICS_PORT', 'PORT']);
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
