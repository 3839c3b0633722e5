// A real OAuth 2.0 server for the tests: oidc-provider on a free loopback port, issuing
// opaque access tokens (for RFC 7662 introspection) and RFC 9068 JWT access tokens signed
// RS256 or ES256 (with its JWKS), revoking tokens, and rotating its signing keys without
// changing its address. Tokens come from the client_credentials grant, so no browser is
// needed; the user a login would have established is named per token request instead
// (the `username`/`sub` claims Matrix Authentication Service puts in its tokens).
// Also a stand-in for MAS's shared-secret front door (`Authorization: Bearer <secret>`
// on /oauth2/introspect), which oidc-provider does not have.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Provider, {
  errors,
  type Adapter,
  type AdapterConstructor,
  type AdapterPayload,
  type KoaContextWithOIDC,
  type ResourceServer,
} from 'oidc-provider';
import { freePort } from './ports.js';

export const MATRIX_SCOPE = 'urn:matrix:client:api:*';
export const MATRIX_SCOPE_UNSTABLE = 'urn:matrix:org.matrix.msc2967.client:api:*';
export const MATRIX_GUEST_SCOPE = 'urn:matrix:client:api:guest';
export const OTHER_SCOPE = 'urn:example:calendar:read';
const SCOPES = [MATRIX_SCOPE, MATRIX_SCOPE_UNSTABLE, MATRIX_GUEST_SCOPE, 'urn:matrix:org.matrix.msc2967.client:api:guest', OTHER_SCOPE];

/** Lifetime of every access token the provider issues. */
export const CLIENT_CREDENTIALS_TTL_SECONDS = 600;
/** Audience of the JWT access tokens meant for this service. */
export const TURN_AUDIENCE = 'https://turn-credentials.example.org';
/** Resource indicators, each deciding the token format, audience and signing algorithm. */
export const RESOURCES = {
  opaque: 'urn:matrix-turn:opaque',
  rs256: `${TURN_AUDIENCE}/rs256`,
  es256: `${TURN_AUDIENCE}/es256`,
  otherAudience: 'https://calendar.example.org/api',
} as const;
export type ResourceName = keyof typeof RESOURCES;

export type SigningAlg = 'RS256' | 'ES256';
type PrivateJwk = Record<string, unknown> & { kid: string; kty: string };

export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface IssueOptions {
  /** The `username` claim (MAS's localpart claim). */
  username?: string;
  /** The `sub` claim; without it opaque tokens have none and JWTs carry the client id. */
  sub?: string;
  /** Space-separated; default the stable Matrix client API scope. Must be a subset of SCOPES. */
  scope?: string;
  resource?: ResourceName;
}

export interface OAuthServer {
  readonly issuer: string;
  readonly introspectionUrl: string;
  readonly jwksUrl: string;
  /** Confidential client allowed to introspect, authenticating with client_secret_basic. */
  readonly introspectorBasic: ClientCredentials;
  /** Confidential client allowed to introspect, authenticating with client_secret_post. */
  readonly introspectorPost: ClientCredentials;
  /** The private signing keys now in use, by algorithm (to forge tokens with the real key). */
  signingKey(alg: SigningAlg): PrivateJwk;
  /** Introspection requests the provider has answered. */
  readonly introspections: number;
  issue(options?: IssueOptions): Promise<string>;
  revoke(token: string): Promise<void>;
  /** New signing keys (new kids) in front; the old public keys stay published, as in a real rotation. */
  rotateKeys(): Promise<void>;
  /** Stops answering (connections refused) / answers again, on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const ISSUING_CLIENT: ClientCredentials = { clientId: 'element-stand-in', clientSecret: randomBytes(24).toString('base64url') };

export async function startOAuthServer(): Promise<OAuthServer> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const introspectorBasic: ClientCredentials = { clientId: 'matrix-turn-credentials', clientSecret: randomBytes(24).toString('base64url') };
  const introspectorPost: ClientCredentials = {
    clientId: 'matrix-turn-credentials-post',
    clientSecret: randomBytes(24).toString('base64url'),
  };
  let keys: PrivateJwk[] = [newKey('RS256'), newKey('ES256')];
  let introspections = 0;
  // Outlives each provider instance, so issued tokens survive a key rotation's restart.
  const storage = new Map<string, StoredArtifact>();
  let server: Server | undefined;
  const sockets = new Set<Socket>();

  const listen = async () => {
    const provider = buildProvider(
      issuer,
      keys,
      storage,
      [ISSUING_CLIENT, introspectorBasic, introspectorPost],
      () => (introspections += 1),
    );
    const callback = provider.callback();
    server = createServer((req, res) => void callback(req, res));
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', () => resolve());
    });
  };
  const shutdown = async () => {
    const current = server;
    server = undefined;
    if (current === undefined) return;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  await listen();

  return {
    issuer,
    introspectionUrl: `${issuer}/token/introspection`,
    jwksUrl: `${issuer}/jwks`,
    introspectorBasic,
    introspectorPost,
    get introspections() {
      return introspections;
    },
    signingKey(alg) {
      return keys.find((key) => key.alg === alg)!;
    },
    async issue(options = {}) {
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        scope: options.scope ?? MATRIX_SCOPE,
        resource: RESOURCES[options.resource ?? 'opaque'],
      });
      const headers: Record<string, string> = { authorization: basic(ISSUING_CLIENT) };
      if (options.username !== undefined) headers['x-test-username'] = options.username;
      if (options.sub !== undefined) headers['x-test-sub'] = options.sub;
      const res = await post(`${issuer}/token`, headers, form.toString());
      const body = JSON.parse(res.body) as { access_token?: string; error?: string; error_description?: string };
      if (res.status !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`token request failed: ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
      }
      return body.access_token;
    },
    async revoke(token) {
      const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
      const res = await post(`${issuer}/token/revocation`, { authorization: basic(ISSUING_CLIENT) }, form.toString());
      if (res.status !== 200) throw new Error(`revocation failed: ${res.status}`);
    },
    async rotateKeys() {
      const fresh = [newKey('RS256'), newKey('ES256')];
      // Fresh keys first: the provider signs with the first key of an algorithm.
      keys = [...fresh, ...keys];
      await shutdown();
      await listen();
    },
    stop: shutdown,
    async start() {
      if (server === undefined) await listen();
    },
    close: shutdown,
  };
}

function buildProvider(
  issuer: string,
  keys: PrivateJwk[],
  storage: Map<string, StoredArtifact>,
  clients: ClientCredentials[],
  onIntrospection: () => void,
): Provider {
  const [issuing, ...introspectors] = clients as [ClientCredentials, ClientCredentials, ClientCredentials];
  const introspectorIds = new Set(introspectors.map((client) => client.clientId));
  const provider = new Provider(issuer, {
    clients: [
      { ...clientMetadata(issuing), token_endpoint_auth_method: 'client_secret_basic', scope: SCOPES.join(' ') },
      { ...clientMetadata(introspectors[0]), token_endpoint_auth_method: 'client_secret_basic' },
      { ...clientMetadata(introspectors[1]), token_endpoint_auth_method: 'client_secret_post' },
    ],
    scopes: SCOPES,
    adapter: memoryAdapter(storage),
    ttl: { ClientCredentials: CLIENT_CREDENTIALS_TTL_SECONDS },
    jwks: { keys },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // As MAS: only the homeserver's client may introspect.
        allowedPolicy: async (_ctx, client) => introspectorIds.has(client.clientId),
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCES.opaque,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          const info = RESOURCE_SERVERS[resourceIndicator];
          if (info === undefined) throw new errors.InvalidTarget();
          return info;
        },
      },
    },
    // Stands in for the interactive login that establishes the user at a real server.
    extraTokenClaims: async (ctx: KoaContextWithOIDC) => {
      const username = ctx.get('x-test-username');
      const sub = ctx.get('x-test-sub');
      return { ...(username !== '' && { username }), ...(sub !== '' && { sub }) };
    },
    formats: {
      customizers: {
        jwt: async (_ctx, token, jwt) => {
          const sub = (token as { extra?: Record<string, unknown> }).extra?.sub;
          if (typeof sub === 'string') jwt.payload.sub = sub;
        },
      },
    },
  });
  provider.on('introspection.error', () => undefined);
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token/introspection' && ctx.status === 200) onIntrospection();
  });
  return provider;
}

const RESOURCE_SERVERS: Readonly<Record<string, ResourceServer>> = {
  [RESOURCES.opaque]: { scope: SCOPES.join(' '), audience: RESOURCES.opaque, accessTokenFormat: 'opaque' },
  [RESOURCES.rs256]: { scope: SCOPES.join(' '), audience: TURN_AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } },
  [RESOURCES.es256]: { scope: SCOPES.join(' '), audience: TURN_AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  [RESOURCES.otherAudience]: {
    scope: SCOPES.join(' '),
    audience: RESOURCES.otherAudience,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  },
};

interface StoredArtifact {
  payload: AdapterPayload;
  expiresAtMs: number;
}

/** The provider's storage, kept by the test server rather than in oidc-provider's module state. */
function memoryAdapter(storage: Map<string, StoredArtifact>): AdapterConstructor {
  return class MapAdapter implements Adapter {
    constructor(private readonly model: string) {}
    private key(id: string): string {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      storage.set(this.key(id), { payload, expiresAtMs: Date.now() + expiresIn * 1000 });
    }
    async find(id: string): Promise<AdapterPayload | undefined> {
      const stored = storage.get(this.key(id));
      return stored !== undefined && stored.expiresAtMs > Date.now() ? stored.payload : undefined;
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async findByUid(): Promise<undefined> {
      return undefined;
    }
    async consume(id: string): Promise<void> {
      const stored = storage.get(this.key(id));
      if (stored !== undefined) stored.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      storage.delete(this.key(id));
    }
    async revokeByGrantId(): Promise<void> {}
  };
}

function clientMetadata(client: ClientCredentials) {
  return {
    client_id: client.clientId,
    client_secret: client.clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  };
}

function basic(client: ClientCredentials): string {
  const encode = (value: string) => encodeURIComponent(value);
  return `Basic ${Buffer.from(`${encode(client.clientId)}:${encode(client.clientSecret)}`).toString('base64')}`;
}

function newKey(alg: SigningAlg): PrivateJwk {
  const pair = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = pair.privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return { ...jwk, kty: String(jwk.kty), kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`, alg, use: 'sig' };
}

// ---- MAS's shared-secret introspection ------------------------------------------------

export interface SharedSecretFront {
  readonly introspectionUrl: string;
  close(): Promise<void>;
}

/**
 * In front of the provider's introspection endpoint, the door MAS opens for its
 * homeserver: `Authorization: Bearer <matrix.secret>` instead of client credentials.
 * A wrong secret gets 401 access_denied, as MAS answers; a right one is passed on as the
 * provider's own introspecting client.
 */
export async function startSharedSecretFront(server: OAuthServer, sharedSecret: string): Promise<SharedSecretFront> {
  const target = new URL(server.introspectionUrl);
  const front = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        if (req.headers.authorization !== `Bearer ${sharedSecret}`) {
          res
            .writeHead(401, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: 'access_denied', error_description: 'bearer token presented is invalid' }));
          return;
        }
        const upstream = httpRequest(
          target,
          {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(server.introspectorBasic) },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'application/json' });
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.writeHead(502).end());
        upstream.end(body);
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const { port } = front.address() as AddressInfo;
  return {
    introspectionUrl: `http://127.0.0.1:${port}/oauth2/introspect`,
    close: () =>
      new Promise<void>((resolve) => {
        front.closeAllConnections();
        front.close(() => resolve());
      }),
  };
}

/** A one-off connection per request: the provider restarts on rotation, and a pooled socket to the old one would fail. */
function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent: false, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' } },
      (res) => {
        readBody(res).then((buffer) => resolve({ status: res.statusCode ?? 0, body: buffer.toString('utf8') }), reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
