// The benchmark's stand-in RFC 7662 introspection endpoint, in its own process: any token
// "bench-<n>" is an active access token of user-<n> with the Matrix client API scope, as
// Matrix Authentication Service answers; the client must authenticate with HTTP Basic as
// INTROSPECTION_CLIENT_ID / _SECRET say. As fast as node:http can.

import { createServer } from 'node:http';

const expectedAuthorization = `Basic ${Buffer.from(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`).toString('base64')}`;
const LIFETIME_SECONDS = 24 * 3600;

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.headers.authorization !== expectedAuthorization) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    const token = /^bench-(\d+)$/.exec(new URLSearchParams(body).get('token') ?? '');
    const answer = token
      ? {
          active: true,
          username: `user-${token[1]}`,
          scope: 'urn:matrix:client:api:* urn:matrix:client:device:BENCH',
          token_type: 'access_token',
          client_id: 'bench-client',
          exp: Math.floor(Date.now() / 1000) + LIFETIME_SECONDS,
        }
      : { active: false };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
