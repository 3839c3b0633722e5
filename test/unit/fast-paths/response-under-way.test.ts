// responseUnderWay reads the response Node's http server keeps on a socket
// (fast-paths/response-under-way.ts); a real server's socket must answer false before the
// response's headers, true once they are out and until the response ends, and false after,
// so a Node that stops keeping the response there, or keeps it differently, fails here.

import { once } from 'node:events';
import { Socket } from 'node:net';
import { responseUnderWay } from '../../../src/fast-paths/response-under-way.js';
import { listen } from '../../helpers/listen.js';

test('a server socket tells a response under way from one not started or finished', async () => {
  const seen: boolean[] = [];
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const server = await listen((req, res) => {
    const socket = req.socket;
    seen.push(responseUnderWay(socket));
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write('first part');
    seen.push(responseUnderWay(socket));
    res.once('finish', () => {
      seen.push(responseUnderWay(socket));
      finished();
    });
    res.end('last part');
  });
  try {
    const answer = await fetch(server.url);
    expect(await answer.text()).toBe('first partlast part');
    await done;
    expect(seen).toEqual([false, true, false]);
  } finally {
    await server.close();
  }
});

test('a socket no server owns has no response under way', async () => {
  const socket = new Socket();
  expect(responseUnderWay(socket)).toBe(false);
  socket.destroy();
  await once(socket, 'close');
});
