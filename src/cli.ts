// The command line: which command the arguments name, and the texts of --help and
// --version. Reading the arguments only: main.ts runs what they name.

import { SERVICE_VERSION } from './version.js';

export type Command =
  | { readonly kind: 'serve' }
  | { readonly kind: 'check-config' }
  | { readonly kind: 'doctor'; readonly json: boolean; readonly token?: string }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'unknown'; readonly argument: string };

/** The command named by the arguments after `node main.js`; none is `serve`. */
export function parseCommand(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'serve') return rest.length === 0 ? { kind: 'serve' } : unknown(rest[0]!);
  if (first === 'doctor') return doctor(rest);
  if (rest.length > 0) return unknown(rest[0]!);
  switch (first) {
    case 'check-config':
      return { kind: 'check-config' };
    case '--help':
    case '-h':
    case 'help':
      return { kind: 'help' };
    case '--version':
    case '-V':
      return { kind: 'version' };
    default:
      return unknown(first);
  }
}

// What is refused is named in the message, so a typo is easy to see; nothing else of the
// command line is echoed.
const unknown = (argument: string): Command => ({ kind: 'unknown', argument });

/**
 * doctor's options: --json, and --token TOKEN (or --token=TOKEN), each at most once. What
 * is refused is named unless it may be a token: what follows --token=, or a bare word (a
 * token given without --token).
 */
function doctor(options: readonly string[]): Command {
  let json = false;
  let token: string | undefined;
  for (let i = 0; i < options.length; i += 1) {
    const option = options[i]!;
    const value = option === '--token' ? options[i + 1] : option.startsWith('--token=') ? option.slice('--token='.length) : undefined;
    if (option === '--json' && !json) json = true;
    else if (value !== undefined && value !== '' && !value.startsWith('--') && token === undefined) {
      token = value;
      if (option === '--token') i += 1;
    } else if (option.startsWith('--token')) return unknown('--token (one token, once)');
    else return unknown(option.startsWith('-') ? option : 'a word after doctor (a token goes after --token)');
  }
  return { kind: 'doctor', json, ...(token !== undefined && { token }) };
}

export const VERSION_TEXT = `matrix-turn-credentials ${SERVICE_VERSION}\n`;

export const HELP_TEXT = `matrix-turn-credentials ${SERVICE_VERSION}: TURN credentials for Matrix clients, on behalf of a homeserver.

Usage:
  matrix-turn-credentials [serve]       start the service (the default)
  matrix-turn-credentials check-config  validate the configuration and print it with secrets masked;
                                        exit 0 when it is valid, 2 when not
  matrix-turn-credentials doctor [--token TOKEN] [--json]
                                        check the whole chain once: the configuration, the homeserver,
                                        OAuth server or JWKS (and with --token, that token end to end),
                                        Redis, and each TURN URI (resolves, answers, Binding, Allocate
                                        with a minted credential); each failure with its likely cause;
                                        exit 0 when nothing failed, 1 otherwise
  matrix-turn-credentials --version     print the version
  matrix-turn-credentials --help        print this text

Configuration comes from the environment and, optionally, a YAML file named by CONFIG_FILE
(its keys are the variable names in lower case; the environment wins). A secret X may be
given as X_FILE, a file re-read when it changes. Invalid configuration exits 2 with one
message naming every bad variable. Every variable, its default and its meaning:
docs/configuration.md; authentication methods: docs/authentication.md; TURN servers,
health checks, managed secrets and providers, the doctor: docs/turn-servers.md; Redis:
docs/redis.md; deployment: docs/deployment.md; health, logs, metrics and alerts:
docs/operations.md.

Run with "node dist/src/main.js" under a supervisor (Kubernetes, systemd, docker): it stops
gracefully on SIGTERM and SIGINT, draining requests in flight.
`;
