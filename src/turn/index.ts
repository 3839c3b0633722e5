// Builds the credential minter its options ask for, with live (re-read) secrets held at
// each re-read to the rule the caller applied at start, or secrets the service rotates
// itself in coturn's Redis (managed-secrets/), and wraps a minter so that what it issues
// is recorded (the cluster-wide figures, stats/cluster.ts).

import { systemTimers, type Clock, type Timers } from '../clock.js';
import type { ComponentStatus } from '../health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RedisClient } from '../redis/client.js';
import { watchedSecret, type SecretRef } from '../secret-file.js';
import type { IssuanceRecorder } from '../stats/cluster.js';
import { sharedSecretMinter, staticMinter, stunOnlyMinter, type CredentialMinter, type MaybeAsyncMinter } from './credentials.js';
import { createManagedSecrets, managedSecretMinter, type ManagedSecretsOptions } from './managed-secrets/index.js';

export interface MinterOptions {
  /** The turn:/turns:/stun: URIs every credential is good for. */
  readonly uris: readonly string[];
  /** How long a credential is good for, in seconds. */
  readonly ttlSeconds: number;
  /** Absent for a server of stun: URIs only, which needs none. */
  readonly credentials?: SharedSecretCredentials | StaticCredentials;
  /**
   * The setting that names the secret's file, as logs and the reload-failures metric say
   * it; default the flat variable's (TURN_SHARED_SECRET_FILE, TURN_PASSWORD_FILE).
   */
  readonly secretSetting?: string;
  /**
   * Secrets the service generates and rotates in coturn's Redis, and signs with; then
   * `credentials`, if given, are static shared secrets coturn also accepts, which sign
   * only until a managed secret is known.
   */
  readonly managedSecrets?: ManagedSecretsOptions;
}

/** coturn's REST API scheme: each user's own credential, signed with the first of the secrets. */
export interface SharedSecretCredentials {
  readonly kind: 'shared-secret';
  /** Comma-separated secrets; the first signs, the others are what coturn may still accept. */
  readonly sharedSecrets: SecretRef;
  /**
   * The rule the secrets were held to at start: the rule a value breaks, in words, or
   * undefined. Each re-read of their file is held to it too.
   */
  readonly validateSharedSecrets: (secrets: string) => string | undefined;
}

/** The same username and password for every user. */
export interface StaticCredentials {
  readonly kind: 'static';
  readonly username: string;
  readonly password: SecretRef;
}

export interface MinterDeps {
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** What the secret file's poll runs on; default Node's. */
  timers?: Timers;
  /** The client of coturn's Redis (COTURN_REDIS_URL): required by managed secrets. */
  coturnRedis?: RedisClient;
}

export interface BuiltMinter {
  minter: CredentialMinter;
  close(): void;
  /** Managed secrets: resolves once the minter can mint, and their /readyz component. */
  managed?: { readonly ready: Promise<void>; status(this: void): ComponentStatus };
}

export function createMinter(options: MinterOptions, deps: MinterDeps): BuiltMinter {
  const { uris, ttlSeconds, credentials } = options;
  const failures = deps.metrics.secretReloadFailures;
  if (options.managedSecrets !== undefined) return createManagedMinter(options, options.managedSecrets, deps);
  if (credentials === undefined) return { minter: stunOnlyMinter({ uris, ttlSeconds }), close: () => {} };
  if (credentials.kind === 'shared-secret') {
    const validate = credentials.validateSharedSecrets;
    const secrets = watchedSecret(credentials.sharedSecrets, options.secretSetting ?? 'TURN_SHARED_SECRET_FILE', deps.logger, {
      validate,
      failures,
      timers: deps.timers,
    });
    return {
      minter: sharedSecretMinter({ uris, ttlSeconds, sharedSecrets: secrets, clock: deps.clock }),
      close: () => secrets.close(),
    };
  }
  // A password's only rule at start is not being empty, which every re-read checks.
  const password = watchedSecret(credentials.password, options.secretSetting ?? 'TURN_PASSWORD_FILE', deps.logger, {
    failures,
    timers: deps.timers,
  });
  return {
    minter: staticMinter({ uris, ttlSeconds, username: credentials.username, password }),
    close: () => password.close(),
  };
}

/** Signs with the newest managed secret; static shared secrets, if any, until one is known. */
function createManagedMinter(options: MinterOptions, managedSecrets: ManagedSecretsOptions, deps: MinterDeps): BuiltMinter {
  const { uris, ttlSeconds, credentials } = options;
  if (deps.coturnRedis === undefined) throw new Error("managed secrets need the client of coturn's Redis");
  const fallback =
    credentials?.kind === 'shared-secret'
      ? watchedSecret(credentials.sharedSecrets, options.secretSetting ?? 'TURN_SHARED_SECRET_FILE', deps.logger, {
          validate: credentials.validateSharedSecrets,
          failures: deps.metrics.secretReloadFailures,
          timers: deps.timers,
        })
      : undefined;
  const { clock, logger, metrics } = deps;
  const signing = createManagedSecrets(
    { ...managedSecrets, ttlSeconds },
    { client: deps.coturnRedis, clock, timers: deps.timers ?? systemTimers, logger, metrics, fallback },
  );
  return {
    minter: managedSecretMinter(sharedSecretMinter({ uris, ttlSeconds, sharedSecrets: signing, clock }), signing),
    managed: { ready: signing.ready, status: signing.status },
    close() {
      signing.close();
      fallback?.close();
    },
  };
}

/** The minter, each credential it issues recorded for its user (after it is made: a failed mint is no issuance). */
export function recordingIssuance(minter: MaybeAsyncMinter, recorder: IssuanceRecorder): MaybeAsyncMinter {
  return {
    mint(userId) {
      const credentials = minter.mint(userId);
      if (credentials instanceof Promise)
        return credentials.then((issued) => {
          recorder.recordIssued(userId);
          return issued;
        });
      recorder.recordIssued(userId);
      return credentials;
    },
  };
}
