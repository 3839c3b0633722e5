// A stand-in for the homeserver's whoami, answering as Synapse does (its status codes and
// error bodies), with switches for the ways a homeserver fails: 500, HTML, hanging,
// refusing connections, a 200 that is not a whoami answer, a proxy in front of it that
// drops the Authorization header. It counts the calls it receives.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type HomeserverMode =
  | 'normal'
  | 'error500'
  | 'html'
  | 'hang'
  | 'garbage200'
  | 'rateLimited'
  /** 200 with JSON that has no valid user_id. */
  | 'notWhoami200'
  /** As if a proxy in front of the homeserver dropped the Authorization header. */
  | 'stripsAuthorization';

export interface StandInUser {
  userId: string;
  isGuest?: boolean;
  deviceId?: string;
  /** Answer 401 M_UNKNOWN_TOKEN with soft_logout true (an expired token, as Synapse). */
  expired?: boolean;
  /** Answer 401 M_USER_LOCKED with soft_logout true (a locked account, as Synapse). */
  locked?: boolean;
}

export interface StandInHomeserver {
  readonly url: string;
  readonly port: number;
  /** whoami calls received, all modes. */
  calls: number;
  mode: HomeserverMode;
  /** Delay before answering, in milliseconds. */
  delayMs: number;
  tokens: Map<string, StandInUser>;
  addToken(token: string, user: StandInUser): void;
  revoke(token: string): void;
  close(): Promise<void>;
}

export async function startHomeserver(options: { port?: number } = {}): Promise<StandInHomeserver> {
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  const state: StandInHomeserver = {
    url: '',
    port: 0,
    calls: 0,
    mode: 'normal',
    delayMs: 0,
    tokens: new Map(),
    addToken(token, user) {
      state.tokens.set(token, user);
    },
    revoke(token) {
      state.tokens.delete(token);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    if (state.delayMs > 0) setTimeout(() => answer(state, req, res, hanging), state.delayMs);
    else answer(state, req, res, hanging);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(state, { port, url: `http://127.0.0.1:${port}` });
  return state;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function answer(state: StandInHomeserver, req: IncomingMessage, res: ServerResponse, hanging: Set<ServerResponse>): void {
  const path = (req.url ?? '').split('?', 1)[0];
  if (path !== '/_matrix/client/v3/account/whoami') {
    json(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    return;
  }
  state.calls += 1;
  switch (state.mode) {
    case 'error500':
      json(res, 500, { errcode: 'M_UNKNOWN', error: 'Internal server error' });
      return;
    case 'html':
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      return;
    case 'garbage200':
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>welcome</html>');
      return;
    case 'rateLimited':
      json(res, 429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 2000 });
      return;
    case 'notWhoami200':
      json(res, 200, { user_id: 'not a user id', is_guest: false });
      return;
    case 'hang':
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    case 'stripsAuthorization':
    case 'normal':
      break;
  }
  const header = state.mode === 'stripsAuthorization' ? undefined : req.headers.authorization;
  if (header === undefined) {
    json(res, 401, { errcode: 'M_MISSING_TOKEN', error: 'Missing access token' });
    return;
  }
  const match = /^Bearer (.+)$/.exec(header);
  const user = match ? state.tokens.get(match[1]!) : undefined;
  if (!match) {
    json(res, 401, { errcode: 'M_MISSING_TOKEN', error: 'Invalid Authorization header.' });
  } else if (user === undefined) {
    json(res, 401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid access token passed.', soft_logout: false });
  } else if (user.expired) {
    json(res, 401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Access token has expired', soft_logout: true });
  } else if (user.locked) {
    json(res, 401, { errcode: 'M_USER_LOCKED', error: 'User account has been locked', soft_logout: true });
  } else {
    json(res, 200, { user_id: user.userId, is_guest: user.isGuest ?? false, device_id: user.deviceId ?? 'DEVICE' });
  }
}
