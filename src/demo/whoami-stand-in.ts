// The demo's homeserver: answers /_matrix/client/v3/account/whoami as Synapse does, for one
// token only, so the service can be tried on a machine with no homeserver. Not a
// homeserver: every other path is Synapse's 404 M_UNRECOGNIZED.

import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const WHOAMI_PATH = '/_matrix/client/v3/account/whoami';

export interface DemoUser {
  readonly userId: string;
  readonly deviceId: string;
}

export interface WhoamiStandIn {
  /** Its base URL, the HOMESERVER_URL the service is given. */
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on `host` at a port the kernel picks; `token` is the one access token it knows. */
export async function startWhoamiStandIn(options: { token: string; user: DemoUser; host: string }): Promise<WhoamiStandIn> {
  const answer = whoamiAnswer(options.token, options.user);
  const server = createServer((req, res) => answer(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The request handler: Synapse's status codes and bodies for whoami. */
export function whoamiAnswer(token: string, user: DemoUser): (req: IncomingMessage, res: ServerResponse) => void {
  const expected = Buffer.from(`Bearer ${token}`);
  // Synapse compares tokens by database lookup; a constant-time comparison is the
  // equivalent here, so the demo does not teach a timing leak.
  const isDemoToken = (header: string) => {
    const given = Buffer.from(header);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  return (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== WHOAMI_PATH) return json(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    if (req.method !== 'GET') return json(res, 405, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    const header = req.headers.authorization;
    if (header === undefined) return json(res, 401, { errcode: 'M_MISSING_TOKEN', error: 'Missing access token' });
    if (!isDemoToken(header)) {
      return json(res, 401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid access token passed.', soft_logout: false });
    }
    return json(res, 200, { user_id: user.userId, is_guest: false, device_id: user.deviceId });
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
