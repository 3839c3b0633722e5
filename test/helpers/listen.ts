// Serves a request handler (a Koa app's callback()) on a free loopback port, so unit
// tests of middleware see real HTTP: status lines, headers and bodies as a client would.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  readonly url: string;
  close(): Promise<void>;
}

/** A Koa callback answers through `res` and resolves once it has; nothing waits on it. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

export async function listen(handler: Handler): Promise<Listening> {
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
