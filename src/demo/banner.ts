// What the demo prints once both servers listen: that it is a demo, the token it knows,
// and the exact request to try.

import type { DemoUser } from './whoami-stand-in.js';

export const DEMO_LABEL = 'DEMO: a stand-in homeserver, not for production';

export interface BannerInputs {
  /** The service's base URL, e.g. http://127.0.0.1:8080. */
  readonly serviceUrl: string;
  readonly metricsUrl: string;
  readonly standInUrl: string;
  readonly token: string;
  readonly user: DemoUser;
  readonly turnUri: string;
}

/** The curl command a reader copies: the service's own route, with the demo token. */
export function curlLine(serviceUrl: string, token: string): string {
  return `curl -s -H 'Authorization: Bearer ${token}' ${serviceUrl}/_matrix/client/v3/voip/turnServer`;
}

export function demoBanner(b: BannerInputs): string {
  return [
    '',
    DEMO_LABEL,
    `  service:             ${b.serviceUrl} (metrics: ${b.metricsUrl})`,
    `  homeserver stand-in: ${b.standInUrl} (whoami only; one token, for ${b.user.userId})`,
    `  TURN server:         ${b.turnUri} (a placeholder: the credentials are real, the server is not)`,
    '',
    `Access token: ${b.token}`,
    'Try it:',
    `  ${curlLine(b.serviceUrl, b.token)}`,
    '',
    'Ctrl-C (or SIGTERM) stops both.',
    '',
    '',
  ].join('\n');
}
