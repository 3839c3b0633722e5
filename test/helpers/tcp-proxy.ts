// A loopback TCP proxy in front of a server, to make the network misbehave the way real
// ones do: freezeExisting() stops carrying bytes on the connections already open while
// keeping them open (a half-open connection after a partition or a frozen server: no
// error, no close, just silence); new connections are carried normally.

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  freezeExisting(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted += 1;
    const upstream = createConnection(targetPort, '127.0.0.1');
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!pair.frozen) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    freezeExisting() {
      for (const pair of pairs) pair.frozen = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
