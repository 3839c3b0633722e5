// What the demo configures: the service's settings for a run on this machine alone, with
// the stand-in as its homeserver, a placeholder TURN server and a shared secret made for
// this run. Only the ports and the log level can be changed (PORT, METRICS_PORT,
// LOG_LEVEL), so a variable left in the operator's shell cannot turn the demo into
// something else.

import type { DemoUser } from './whoami-stand-in.js';

/** Loopback only: the demo's token is printed on the terminal, so nothing else may reach it. */
export const DEMO_HOST = '127.0.0.1';
export const DEMO_USER: DemoUser = { userId: '@demo:localhost', deviceId: 'DEMO' };
export const DEMO_TURN_URI = 'turn:turn.example.org:3478?transport=udp';

export interface DemoInputs {
  readonly homeserverUrl: string;
  readonly sharedSecret: string;
  /** The operator's environment, read for PORT, METRICS_PORT and LOG_LEVEL only. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The environment the service's loadConfig is given. */
export function demoEnvironment(inputs: DemoInputs): Record<string, string> {
  return {
    HOST: DEMO_HOST,
    PORT: inputs.env.PORT ?? '8080',
    METRICS_PORT: inputs.env.METRICS_PORT ?? '9090',
    LOG_LEVEL: inputs.env.LOG_LEVEL ?? 'info',
    HOMESERVER_URL: inputs.homeserverUrl,
    TURN_URIS: DEMO_TURN_URI,
    TURN_SHARED_SECRET: inputs.sharedSecret,
    // The placeholder TURN server is not on this machine: no probe of it leaves it.
    TURN_HEALTH_CHECK_INTERVAL: '0',
  };
}
