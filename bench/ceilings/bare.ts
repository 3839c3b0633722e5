// Ceiling: a bare node:http server answering a fixed JSON body of the same shape and size
// as a TURN credential answer. Nothing can be faster in Node on this machine.

import { createServer } from 'node:http';
import { exitOnSigterm } from './exit-on-sigterm.js';

const body = JSON.stringify({
  username: '1795597949:@user-000001:bench.example.org',
  password: '2WM2BrOpMrSyersaWftOyHRpzn8=',
  uris: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp'],
  ttl: 3600,
});

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
exitOnSigterm();
