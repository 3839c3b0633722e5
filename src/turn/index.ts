// Builds the credential minter the configuration asks for, with live (re-read) secrets.

import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { liveSecret, type LiveSecret } from '../secret-file.js';
import { sharedSecretMinter, staticMinter, type CredentialMinter } from './credentials.js';

export function createMinter(config: Config, deps: { clock: Clock; logger: Logger }): { minter: CredentialMinter; close(): void } {
  const { turn } = config;
  const watch = (name: string, ref: NonNullable<typeof turn.sharedSecret>): LiveSecret =>
    liveSecret(ref, {
      onError: (message) => deps.logger.error({ setting: name }, message),
      onChange: () => deps.logger.info({ setting: name }, 'secret file changed; using the new value'),
    });
  if (turn.sharedSecret !== undefined) {
    const secrets = watch('TURN_SHARED_SECRET_FILE', turn.sharedSecret);
    return {
      minter: sharedSecretMinter({ uris: turn.uris, ttlSeconds: turn.ttlSeconds, sharedSecrets: secrets, clock: deps.clock }),
      close: () => secrets.close(),
    };
  }
  const password = watch('TURN_PASSWORD_FILE', turn.password!);
  return {
    minter: staticMinter({ uris: turn.uris, ttlSeconds: turn.ttlSeconds, username: turn.username!, password }),
    close: () => password.close(),
  };
}
