// What a static JWT_PUBLIC_KEY may be, read synchronously: a PEM public key, one public
// JWK, or a JWK set whose every key imports; and which JWS algorithms each key can verify
// under jose. The configuration refuses what this refuses, before the service starts, a
// re-read of JWT_PUBLIC_KEY_FILE is held to the same rule (publicKeyProblem), and the
// verifier builds its keys from the same reading, so the three never disagree: a shared
// part, beside config/ and auth/ rather than in either. Reasons name the key's form and
// type and Node's error code, never the key's material.

import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { errorCode } from './error-fields.js';

export interface PublicKey {
  readonly keyObject: KeyObject;
  /** The JWK as given, when the key came from a JWK set: its alg, use and key_ops narrow what jose will use it for. */
  readonly jwk?: JsonWebKey;
}

export interface PublicKeyReading {
  readonly keys: readonly PublicKey[];
  /** The set as given, when the text is a JWK set (jose picks a key from it by kid and alg). */
  readonly set?: { readonly keys: JsonWebKey[] };
}

/** Reads the text as a public key; throws an Error whose message ("is …", "has …") says what is wrong. */
export function readPublicKey(text: string): PublicKeyReading {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    // createPublicKey would derive the public half of a private key; a private key must not sit where a public one belongs.
    if (/PRIVATE KEY-----/.test(trimmed)) throw new Error('is a private key; give the public key');
    return { keys: [{ keyObject: importOrExplain(() => createPublicKey(trimmed), 'is a PEM block that does not parse as a public key') }] };
  }
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error('looks like JSON but does not parse');
    }
    const keys = (parsed as { keys?: unknown }).keys;
    if (Array.isArray(keys)) return readJwkSet(keys);
    if ('d' in (parsed as object)) throw new Error('is a private JWK; give the public key');
    return { keys: [{ keyObject: importOrExplain(() => importJwk(parsed), 'is a JWK that does not import as a public key') }] };
  }
  throw new Error('is neither a PEM public key nor a JWK or JWK set');
}

function readJwkSet(keys: unknown[]): PublicKeyReading {
  if (keys.length === 0) throw new Error('is a JWK set with no keys');
  if (keys.some((jwk) => typeof jwk === 'object' && jwk !== null && 'd' in jwk)) throw new Error('has private keys; give only public keys');
  const read = keys.map((jwk, index) => {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
      throw new Error(`has a member of its JWK set that is not a JWK (key ${index + 1} of ${keys.length})`);
    const keyObject = importOrExplain(
      () => importJwk(jwk),
      'has a key that does not import as a public key',
      `key ${index + 1} of ${keys.length}`,
    );
    return { keyObject, jwk: jwk as JsonWebKey };
  });
  return { keys: read, set: { keys: keys as JsonWebKey[] } };
}

function importJwk(jwk: unknown): KeyObject {
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
}

/** Node's messages may echo parts of the input, so only its error code is passed on. */
function importOrExplain(load: () => KeyObject, reason: string, where?: string): KeyObject {
  try {
    return load();
  } catch (error) {
    // eslint-disable-next-line preserve-caught-error -- the cause is the message that may echo the key: only its code goes on.
    throw new Error(`${reason} (${where === undefined ? '' : `${where}: `}${errorCode(error) ?? 'unreadable'})`);
  }
}

/** What is wrong, and which setting it is to be blamed on: the key itself, or JWT_ALGORITHMS that cannot use it. */
export interface PublicKeyProblem {
  readonly setting: 'JWT_PUBLIC_KEY' | 'JWT_ALGORITHMS';
  /** "is …", "holds …" of the key; "<algorithms> cannot verify …" of JWT_ALGORITHMS. */
  readonly message: string;
}

/**
 * The rule of a static key: it reads as a public key, can verify some JWT, and (when
 * `algorithms` is given) under at least one of JWT_ALGORITHMS; otherwise every token would
 * be refused. Undefined when the key passes.
 */
export function publicKeyProblem(text: string, algorithms?: readonly string[]): PublicKeyProblem | undefined {
  let reading: PublicKeyReading;
  try {
    reading = readPublicKey(text);
  } catch (error) {
    return { setting: 'JWT_PUBLIC_KEY', message: (error as Error).message };
  }
  const verifiable = [...new Set(reading.keys.flatMap(verifiableAlgorithms))];
  const kinds = [...new Set(reading.keys.map(describeKey))].join(', ');
  if (verifiable.length === 0) {
    return {
      setting: 'JWT_PUBLIC_KEY',
      message:
        `holds only ${kinds}, which cannot verify any JWT ` +
        '(RSA of at least 2048 bits, EC on P-256, P-384 or P-521, or Ed25519, for signatures)',
    };
  }
  if (algorithms !== undefined && !algorithms.some((alg) => verifiable.includes(alg))) {
    return {
      setting: 'JWT_ALGORITHMS',
      message:
        `${algorithms.join(', ')} cannot verify any token with JWT_PUBLIC_KEY (${kinds}), ` +
        `which verifies only ${verifiable.join(', ')}`,
    };
  }
  return undefined;
}

/** publicKeyProblem as the rule a re-read of the key's file is held to (secret-file.ts): the rule broken, in words. */
export function publicKeyRule(algorithms: readonly string[]): (text: string) => string | undefined {
  return (text) => {
    const problem = publicKeyProblem(text, algorithms);
    if (problem === undefined) return undefined;
    return problem.setting === 'JWT_ALGORITHMS' ? `breaks JWT_ALGORITHMS: ${problem.message}` : problem.message;
  };
}

/** jose refuses RSA keys shorter than this for every RS and PS algorithm. */
const MIN_RSA_BITS = 2048;
const EC_ALGORITHM_BY_CURVE: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const EC_CURVE_NAMES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** The JWS algorithms jose can verify with this key (its type, size or curve, and a JWK's own alg, use and key_ops). */
export function verifiableAlgorithms(key: PublicKey): string[] {
  const { keyObject, jwk } = key;
  const details = keyObject.asymmetricKeyDetails;
  let byType: string[] = [];
  if (keyObject.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= MIN_RSA_BITS) {
    byType = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  } else if (keyObject.asymmetricKeyType === 'ec') {
    const alg = EC_ALGORITHM_BY_CURVE[details?.namedCurve ?? ''];
    byType = alg === undefined ? [] : [alg];
  } else if (keyObject.asymmetricKeyType === 'ed25519') {
    byType = ['EdDSA', 'Ed25519'];
  }
  if (jwk === undefined) return byType;
  // As jose's JWK set selects keys: a use other than "sig", or key_ops without "verify", rules the key out.
  const keyOps = (jwk as { key_ops?: unknown }).key_ops;
  if (jwk.use !== undefined && jwk.use !== 'sig') return [];
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) return [];
  return typeof jwk.alg === 'string' ? byType.filter((alg) => alg === jwk.alg) : byType;
}

/** "a 2048-bit RSA key", "an EC P-384 key", "an Ed25519 key", with a JWK's alg and use: never the key itself. */
export function describeKey(key: PublicKey): string {
  const { keyObject, jwk } = key;
  const details = keyObject.asymmetricKeyDetails;
  let what: string;
  switch (keyObject.asymmetricKeyType) {
    case 'rsa':
      what = `a ${details?.modulusLength ?? '?'}-bit RSA key`;
      break;
    case 'ec':
      what = `an EC ${EC_CURVE_NAMES[details?.namedCurve ?? ''] ?? details?.namedCurve ?? ''} key`;
      break;
    case 'ed25519':
      what = 'an Ed25519 key';
      break;
    default:
      what = `a key of type ${keyObject.asymmetricKeyType ?? 'unknown'}`;
  }
  const marks = [
    typeof jwk?.alg === 'string' && `alg ${JSON.stringify(jwk.alg.slice(0, 32))}`,
    typeof jwk?.use === 'string' && `use ${JSON.stringify(jwk.use.slice(0, 32))}`,
  ].filter(Boolean);
  return marks.length > 0 ? `${what} marked ${marks.join(', ')}` : what;
}
