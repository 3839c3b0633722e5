// answerAtOnce (fast-paths/answer-at-once.ts) writes an answer with one writeHead and one
// end, outside Koa's response: what reaches the client, byte for byte but the Date, must be
// what Koa writes for the same status, headers and body, with and without a header set
// before (Node's merging path, which the service does not take but must stay correct).

import { once } from 'node:events';
import { connect } from 'node:net';
import Koa from 'koa';
import { answerAtOnce } from '../../../src/fast-paths/answer-at-once.js';
import { listen, type Listening } from '../../helpers/listen.js';

const HEADERS = ['X-Request-ID', 'abc-1', 'Access-Control-Allow-Origin', '*', 'Content-Type', 'application/json; charset=utf-8'];
const BODY = JSON.stringify({ username: '1700000000:@ünïcode:example.org', password: 'p=', ttl: 60 });

let server: Listening;
let port: number;

beforeAll(async () => {
  const app = new Koa();
  app.silent = true;
  app.use((ctx) => {
    if (ctx.path.includes('before')) ctx.res.setHeader('Connection', 'close');
    if (ctx.path.startsWith('/koa')) {
      ctx.status = 201;
      for (let i = 0; i < HEADERS.length; i += 2) ctx.set(HEADERS[i]!, HEADERS[i + 1]!);
      ctx.body = BODY;
    } else {
      answerAtOnce(ctx, 201, [...HEADERS], BODY);
    }
  });
  server = await listen(app.callback());
  port = Number(new URL(server.url).port);
});
afterAll(() => server.close());

/** The whole answer as bytes, the Date header's value blanked. */
async function rawAnswer(path: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('latin1')
    .replace(/^Date: .*$/m, 'Date: -');
}

test.each(['/', '/before'])('%s: the same bytes as Koa writes for that answer', async (path) => {
  const fast = await rawAnswer(path);
  expect(fast).toBe(await rawAnswer(`/koa${path}`));
  expect(fast).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
  expect(fast).toContain(`\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n`);
  expect(fast.endsWith(`\r\n\r\n${Buffer.from(BODY).toString('latin1')}`)).toBe(true);
});
