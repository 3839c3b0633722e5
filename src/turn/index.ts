// Builds the credential minter the configuration asks for, with live (re-read) secrets
// held at each re-read to the rules the configuration applied at start.

import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { watchedSecret } from '../secret-file.js';
import { sharedSecretsProblem } from '../config/rules.js';
import { sharedSecretMinter, staticMinter, type CredentialMinter } from './credentials.js';

export function createMinter(config: Config, deps: { clock: Clock; logger: Logger; metrics: Metrics }): { minter: CredentialMinter; close(): void } {
  const { turn } = config;
  const failures = deps.metrics.secretReloadFailures;
  if (turn.sharedSecret !== undefined) {
    const secrets = watchedSecret(turn.sharedSecret, 'TURN_SHARED_SECRET_FILE', deps.logger, { validate: sharedSecretsProblem, failures });
    return {
      minter: sharedSecretMinter({ uris: turn.uris, ttlSeconds: turn.ttlSeconds, sharedSecrets: secrets, clock: deps.clock }),
      close: () => secrets.close(),
    };
  }
  // TURN_PASSWORD's only rule at start is not being empty, which every re-read checks.
  const password = watchedSecret(turn.password!, 'TURN_PASSWORD_FILE', deps.logger, { failures });
  return {
    minter: staticMinter({ uris: turn.uris, ttlSeconds: turn.ttlSeconds, username: turn.username!, password }),
    close: () => password.close(),
  };
}
