// Stand-ins for the managed TURN services' credential APIs, each built from its provider's
// public documentation (the request it takes, the answer it gives), since there is no
// network to the providers here. Each checks the documented request (method, path, auth,
// body encoding) and refuses anything else as the provider would, records every request as
// received, and has switches for the ways a provider fails: 500, hanging, refusing our key
// (401), answering nonsense. What they issue can be a credential a real coturn accepts, on
// URIs of that coturn: `credential` and `uris` say which.
//
// Cloudflare: https://developers.cloudflare.com/realtime/turn/generate-credentials/ (the
//   request and its 201 answer; port-53 alternates), .../realtime/turn/faq/ (48 h at most),
//   .../realtime/turn/replacing-existing/ (customIdentifier).
// Twilio: https://www.twilio.com/docs/stun-turn/api (the Token resource: POST with HTTP Basic
//   and a form body `Ttl`, 201 with `ttl` as a string and ice_servers with `url` and `urls`).
// Metered: https://www.metered.ca/docs/turn-rest-api/post-create-credential and
//   https://www.metered.ca/docs/turn-rest-api/get-credential (the credential, then its
//   ICE servers by the credential's apiKey, a bare list whose `urls` are strings).

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type StandInMode = 'normal' | 'error500' | 'hang' | 'unauthorized' | 'garbage';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query string, as received. */
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface StandInOptions {
  /** The username and password each credential gets; default random ones, as the providers give. */
  credential?: (ttlSeconds: number) => { username: string; password: string };
  /** The TURN URIs handed out (STUN and port-53 alternates are added as the provider adds them). */
  turnUris?: readonly string[];
}

export interface ProviderStandIn {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Credentials handed out. */
  issued: number;
  mode: StandInMode;
  close(): Promise<void>;
}

type Handler = (req: RecordedRequest, res: ServerResponse, issue: (ttlSeconds: number) => { username: string; password: string }) => void;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function startStandIn(options: StandInOptions, handle: Handler): Promise<ProviderStandIn> {
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  const issue = (ttlSeconds: number) => {
    state.issued += 1;
    return options.credential?.(ttlSeconds) ?? { username: randomBytes(24).toString('hex'), password: randomBytes(12).toString('base64') };
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      state.requests.push(recorded);
      if (state.mode === 'hang') {
        hanging.add(res);
        return;
      }
      if (state.mode === 'error500') return json(res, 500, { error: 'internal error' });
      if (state.mode === 'unauthorized') return json(res, 401, { error: 'Unauthorized' });
      if (state.mode === 'garbage') return void res.writeHead(201, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      handle(recorded, res, issue);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const state: ProviderStandIn = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: [],
    issued: 0,
    mode: 'normal',
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return state;
}

const EXAMPLE_TURN = ['turn:turn.provider.example:3478?transport=udp', 'turn:turn.provider.example:3478?transport=tcp'];

/** Cloudflare Realtime TURN's generate-ice-servers for one TURN key. */
export function startCloudflareStandIn(keys: { keyId: string; apiToken: string }, options: StandInOptions = {}): Promise<ProviderStandIn> {
  const turnUris = options.turnUris ?? EXAMPLE_TURN;
  return startStandIn(options, (req, res, issue) => {
    if (req.method !== 'POST' || req.url !== `/v1/turn/keys/${keys.keyId}/credentials/generate-ice-servers`)
      return json(res, 404, { error: 'not found' });
    if (req.headers.authorization !== `Bearer ${keys.apiToken}`) return json(res, 401, { error: 'Unauthorized' });
    const body = parse(req.body) as { ttl?: unknown } | undefined;
    const ttl = body?.ttl;
    if (!req.headers['content-type']?.startsWith('application/json') || typeof ttl !== 'number' || ttl < 1 || ttl > 172_800)
      return json(res, 400, { error: 'ttl must be a number of seconds up to 172800' });
    const { username, password } = issue(ttl);
    json(res, 201, {
      iceServers: [
        { urls: ['stun:stun.cloudflare.com:3478', 'stun:stun.cloudflare.com:53'] },
        { urls: [...turnUris, 'turn:turn.cloudflare.com:53?transport=udp', turnUris[0]!], username, credential: password },
      ],
    });
  });
}

/** Twilio's Tokens resource for one account, authenticated by the account (auth token) or one of its API keys. */
export function startTwilioStandIn(
  account: { accountSid: string; user: string; secret: string },
  options: StandInOptions = {},
): Promise<ProviderStandIn> {
  const turnUris = options.turnUris ?? EXAMPLE_TURN;
  const basic = `Basic ${Buffer.from(`${account.user}:${account.secret}`).toString('base64')}`;
  return startStandIn(options, (req, res, issue) => {
    if (req.method !== 'POST' || req.url !== `/2010-04-01/Accounts/${account.accountSid}/Tokens.json`)
      return json(res, 404, { code: 20404, message: 'The requested resource was not found' });
    if (req.headers.authorization !== basic) return json(res, 401, { code: 20003, message: 'Authenticate' });
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return json(res, 400, { message: 'form body expected' });
    const ttl = Number(new URLSearchParams(req.body).get('Ttl') ?? '86400');
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) return json(res, 400, { code: 21608, message: 'Ttl must be at most 86400' });
    const { username, password } = issue(ttl);
    json(res, 201, {
      account_sid: account.accountSid,
      ttl: String(ttl),
      username,
      password,
      date_created: 'Fri, 01 May 2020 01:42:57 +0000',
      date_updated: 'Fri, 01 May 2020 01:42:57 +0000',
      ice_servers: [
        { url: 'stun:global.stun.twilio.com:3478', urls: 'stun:global.stun.twilio.com:3478' },
        ...turnUris.map((uri) => ({ url: uri, urls: uri, username, credential: password })),
        // An entry of the legacy shape: `url` only.
        { url: 'turns:global.turn.twilio.com:443?transport=tcp', username, credential: password },
      ],
    });
  });
}

/** Metered's credential API for one app: create a credential, then fetch its ICE servers by its apiKey. */
export function startMeteredStandIn(app: { secretKey: string }, options: StandInOptions = {}): Promise<ProviderStandIn> {
  const turnUris = options.turnUris ?? EXAMPLE_TURN;
  const credentials = new Map<string, { username: string; password: string }>();
  return startStandIn(options, (req, res, issue) => {
    const url = new URL(req.url, 'http://stand-in');
    if (req.method === 'POST' && url.pathname === '/api/v1/turn/credential') {
      if (url.searchParams.get('secretKey') !== app.secretKey) return json(res, 401, { message: 'Invalid secretKey' });
      const body = parse(req.body) as { expiryInSeconds?: unknown; label?: unknown } | undefined;
      const expiry = body?.expiryInSeconds;
      if (
        !req.headers['content-type']?.startsWith('application/json') ||
        typeof expiry !== 'number' ||
        !Number.isInteger(expiry) ||
        expiry < 1
      )
        return json(res, 400, { message: 'please enter a positive integer value for expiryInSeconds' });
      const credential = issue(expiry);
      const apiKey = randomBytes(18).toString('hex');
      credentials.set(apiKey, credential);
      return json(res, 200, { ...credential, expiryInSeconds: expiry, label: body?.label, apiKey });
    }
    if (req.method === 'GET' && url.pathname === '/api/v1/turn/credentials') {
      const apiKey = url.searchParams.get('apiKey');
      if (apiKey === null) return json(res, 400, { error: 'Please specify API Key' });
      const credential = credentials.get(apiKey);
      if (credential === undefined) return json(res, 401, { error: 'Invalid API Key' });
      return json(res, 200, [
        { urls: 'stun:stun.relay.metered.ca:80' },
        ...turnUris.map((urls) => ({ urls, username: credential.username, credential: credential.password })),
      ]);
    }
    json(res, 404, { message: 'not found' });
  });
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
