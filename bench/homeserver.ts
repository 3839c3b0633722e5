// The benchmark's stand-in homeserver, in its own process: whoami answers for any token
// "bench-<n>" as @user-<n>:bench.example.org, as fast as node:http can.

import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const token = /^Bearer bench-(\d+)$/.exec(req.headers.authorization ?? '');
  if (!token) {
    res
      .writeHead(401, { 'content-type': 'application/json' })
      .end('{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed.","soft_logout":false}');
    return;
  }
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ user_id: `@user-${token[1]}:bench.example.org`, is_guest: false, device_id: 'BENCH' }));
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
