// The checks across settings and the rules of the secrets (src/config/rules.ts): a static
// JWT_PUBLIC_KEY checked against JWT_ALGORITHMS, and the verdict at start equal to the
// verdict on every re-read of a secret file.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { sharedSecretsProblem } from '../../../src/config/shared-secrets.js';
import { publicKeyRule } from '../../../src/jwt-public-key.js';
import { BASE, problemFor, problemsOf, temporaryFiles } from './fixtures.js';

const files = temporaryFiles();
const file = (contents: string) => files.file(contents);

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
    [
      'a JWK set',
      () => JSON.stringify({ keys: [jwk(ec.publicKey, { kid: 'ec-1' }), jwk(rsa.publicKey, { kid: 'rsa-1', alg: 'RS256', use: 'sig' })] }),
    ],
  ])('accepts %s, inline or as a file', (_form, text) => {
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY: text() }).auth.jwt?.publicKey).toEqual({ value: text() });
    const path = file(`${text()}\n`);
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY_FILE: path }).auth.jwt?.publicKey).toEqual({ value: text().trim(), path });
  });

  const corruptPem = pem(rsa.publicKey)
    .replace(/(\n[A-Za-z0-9+/]{10})[A-Za-z0-9+/]{8}/, '$1ZZZZZZZZ')
    .replace('MII', 'AII');
  it.each([
    [
      'an SSH key',
      () => `ssh-rsa ${material(pem(rsa.publicKey))} alice@example.org`,
      /the value is neither a PEM public key nor a JWK or JWK set$/,
    ],
    ['a PEM block that is no key', () => corruptPem, /the value is a PEM block that does not parse as a public key \(ERR_[A-Z0-9_]+\)$/],
    [
      'a private key PEM',
      () => rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      /the value is a private key; give the public key$/,
    ],
    ['a private JWK', () => JSON.stringify(rsa.privateKey.export({ format: 'jwk' })), /the value is a private JWK; give the public key$/],
    [
      'a JWK that does not import',
      () => JSON.stringify({ ...jwk(rsa.publicKey), n: 42 }),
      /the value is a JWK that does not import as a public key \(ERR_[A-Z_]+\)$/,
    ],
    [
      'a JWK set with a key that does not import',
      () => JSON.stringify({ keys: [jwk(ec.publicKey), { kty: 'oct', k: 'c2VjcmV0' }] }),
      /has a key that does not import as a public key \(key 2 of 2: ERR_[A-Z_]+\)$/,
    ],
    [
      'a JWK set with a private key',
      () => JSON.stringify({ keys: [rsa.privateKey.export({ format: 'jwk' })] }),
      /has private keys; give only public keys$/,
    ],
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
    expect(problemsOf({ ...JWT, JWT_PUBLIC_KEY_FILE: path })).toEqual([
      `JWT_PUBLIC_KEY_FILE: ${path} is neither a PEM public key nor a JWK or JWK set`,
    ]);
  });

  it('leaves JWT_PUBLIC_KEY alone when another AUTH_METHOD is chosen', () => {
    expect(() => loadConfig({ ...BASE, JWT_PUBLIC_KEY: 'not a key at all' })).not.toThrow();
  });

  it('refuses JWT_ALGORITHMS that can never verify with the key, naming what the key takes', () => {
    expect(problemsOf({ ...JWT, JWT_PUBLIC_KEY: pem(rsa.publicKey), JWT_ALGORITHMS: 'ES256,EdDSA' })).toEqual([
      'JWT_ALGORITHMS: ES256, EdDSA cannot verify any token with JWT_PUBLIC_KEY (a 2048-bit RSA key), ' +
        'which verifies only RS256, RS384, RS512, PS256, PS384, PS512',
    ]);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    expect(problemFor({ ...JWT, JWT_PUBLIC_KEY: pem(p384) }, 'JWT_ALGORITHMS')).toMatch(
      /^JWT_ALGORITHMS: RS256, ES256, EdDSA cannot .*\(an EC P-384 key\), which verifies only ES384$/,
    );
    const pinned = JSON.stringify({ keys: [jwk(rsa.publicKey, { alg: 'RS384' })] });
    expect(problemFor({ ...JWT, JWT_PUBLIC_KEY: pinned, JWT_ALGORITHMS: 'RS256' }, 'JWT_ALGORITHMS')).toMatch(
      /marked alg "RS384"\), which verifies only RS384$/,
    );
  });

  it('accepts algorithms that fit at least one key of a set', () => {
    const set = JSON.stringify({ keys: [jwk(rsa.publicKey), jwk(ec.publicKey)] });
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY: set, JWT_ALGORITHMS: 'ES256' }).auth.jwt?.algorithms).toEqual(['ES256']);
    expect(loadConfig({ ...JWT, JWT_PUBLIC_KEY: pem(ec.publicKey), JWT_ALGORITHMS: 'RS256,ES256' }).auth.jwt?.algorithms).toEqual([
      'RS256',
      'ES256',
    ]);
  });

  it.each([
    [
      'an X25519 key (for key agreement)',
      () => pem(generateKeyPairSync('x25519').publicKey),
      /holds only a key of type x25519, which cannot verify any JWT/,
    ],
    [
      'a 1024-bit RSA key',
      () => pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey),
      /holds only a 1024-bit RSA key, which cannot verify any JWT/,
    ],
    [
      'a set of encryption keys',
      () => JSON.stringify({ keys: [jwk(rsa.publicKey, { use: 'enc' })] }),
      /holds only a 2048-bit RSA key marked use "enc", which/,
    ],
  ])('refuses %s, which can verify no JWT whatever the algorithms', (_what, text, why) => {
    expect(problemsOf({ ...JWT, JWT_PUBLIC_KEY: text() })).toEqual([expect.stringMatching(why)]);
  });

  it('checks the key and every other setting in the same message', () => {
    const names = problemsOf({ ...JWT, JWT_PUBLIC_KEY: 'garbage', PORT: 'eighty', JWT_ALGORITHMS: 'HS256' }).map((p) =>
      p.slice(0, p.indexOf(':')),
    );
    expect(names.sort()).toEqual(['JWT_ALGORITHMS', 'JWT_PUBLIC_KEY', 'PORT']);
  });
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
    expect({ refusedAtStart: atStart !== undefined, refusedAtReread: atReread !== undefined }).toEqual({
      refusedAtStart: atReread !== undefined,
      refusedAtReread: atReread !== undefined,
    });
    if (atReread !== undefined) expect(atStart).toBe(`TURN_SHARED_SECRET: ${atReread}`);
  });

  const JWT = { ...BASE, AUTH_METHOD: 'jwt', SERVER_NAME: 'example.org', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'turn' };
  const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  it.each([
    ['an RSA key for RS256', () => pem(rsa), 'RS256'],
    ['an RSA key for ES256 only', () => pem(rsa), 'ES256'],
    [
      'an EC P-384 key for the default algorithms',
      () => pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey),
      'RS256,ES256,EdDSA',
    ],
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
