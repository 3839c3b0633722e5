// Builds the credential minter the configuration asks for, with live (re-read) secrets.

import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { watchedSecret } from '../secret-file.js';
import { sharedSecretMinter, staticMinter, type CredentialMinter } from './credentials.js';

export function createMinter(config: Config, deps: { clock: Clock; logger: Logger }): { minter: CredentialMinter; close(): void } {
  const { turn } = config;
  if (turn.sharedSecret !== undefined) {
    const secrets = watchedSecret(turn.sharedSecret, 'TURN_SHARED_SECRET_FILE', deps.logger);
    return {
      minter: sharedSecretMinter({ uris: turn.uris, ttlSeconds: turn.ttlSeconds, sharedSecrets: secrets, clock: deps.clock }),
      close: () => secrets.close(),
    };
  }
  const password = watchedSecret(turn.password!, 'TURN_PASSWORD_FILE', deps.logger);
  return {
    minter: staticMinter({ uris: turn.uris, ttlSeconds: turn.ttlSeconds, username: turn.username!, password }),
    close: () => password.close(),
  };
}
