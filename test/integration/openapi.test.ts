// The OpenAPI document against the running service. The document lints clean (Redocly's
// recommended rules, with the reasoned exceptions of openapi/.redocly.lint-ignore.yaml)
// and is a valid OpenAPI 3.1 description; then every answer of DESIGN.md's table is
// produced from the real service (stand-in homeserver behind it) on every path prefix,
// and its status, headers and body are validated against what the document says for
// that path, method and status. Finally every documented answer must have been seen
// live, so neither side can change without the other.

import { connect } from 'node:net';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenAPIV3_1 } from 'openapi-types';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { SERVER_LIMITS } from '../../src/server.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { REPO_ROOT, runTool } from '../helpers/tools.js';

const OPENAPI_DIR = join(REPO_ROOT, 'openapi');
const TURN_PATHS = ['/_matrix/client/v3/voip/turnServer', '/_matrix/client/r0/voip/turnServer', '/_matrix/client/api/v1/voip/turnServer'];
/** Documented answers that only a fault inside the service produces; nothing here can cause them on purpose. */
const FAULT_ONLY_STATUSES = new Set(['500']);
/** Answers to requests refused before routing, on any path (components/responses/RequestRejected). */
const REJECTED_BEFORE_ROUTING = new Set([400, 408, 414, 431]);

type Method = 'get' | 'options' | 'post' | 'delete';

interface LiveAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validators = new Map<object, ValidateFunction>();
function validatorFor(schema: object): ValidateFunction {
  let validate = validators.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

let contract: OpenAPIV3_1.Document;
const seen = new Set<string>();

/** The documented response for this request: the operation's, or the one for undocumented paths and methods. */
function documentedResponse(path: string, method: Method, status: number): OpenAPIV3_1.ResponseObject {
  if (REJECTED_BEFORE_ROUTING.has(status)) return contract.components!.responses!.RequestRejected as OpenAPIV3_1.ResponseObject;
  const operation = contract.paths?.[path]?.[method];
  if (operation === undefined) {
    expect([404, 405]).toContain(status);
    expect(status).toBe(contract.paths?.[path] === undefined ? 404 : 405);
    return contract.components!.responses!.Unrecognized as OpenAPIV3_1.ResponseObject;
  }
  const response = operation.responses?.[String(status)] as OpenAPIV3_1.ResponseObject | undefined;
  if (response === undefined) {
    const listed = Object.keys(operation.responses ?? {}).join(', ');
    throw new Error(`${method.toUpperCase()} ${path} answered ${status}, which the OpenAPI document does not list (${listed})`);
  }
  seen.add(`${method} ${path} ${status}`);
  return response;
}

function expectMatchesContract(path: string, method: Method, answer: LiveAnswer): void {
  const response = documentedResponse(path, method, answer.status);
  for (const [name, header] of Object.entries(response.headers ?? {}) as [string, OpenAPIV3_1.HeaderObject][]) {
    const value = answer.headers.get(name);
    if (value === null) {
      expect({ header: name, required: header.required === true }).toEqual({ header: name, required: false });
      continue;
    }
    const validate = validatorFor(header.schema as object);
    expect({ header: name, value, errors: validate(value) ? null : validate.errors }).toEqual({ header: name, value, errors: null });
  }
  const media = response.content?.['application/json'];
  expect(media?.schema).toBeDefined();
  expect(answer.headers.get('content-type')).toMatch(/^application\/json\b/i);
  const validate = validatorFor(media!.schema as object);
  const valid = validate(answer.body);
  expect({ status: answer.status, body: answer.body, errors: valid ? null : validate.errors }).toEqual({
    status: answer.status,
    body: answer.body,
    errors: null,
  });
}

async function call(base: string, method: Method, pathAndQuery: string, headers: Record<string, string> = {}): Promise<LiveAnswer> {
  const res = await fetch(`${base}${pathAndQuery}`, { method: method.toUpperCase(), headers });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

/** Sends raw bytes (what fetch cannot send) and parses the HTTP/1.1 answer. */
function rawCall(port: number, request: string): Promise<LiveAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')));
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n', 2);
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = new Headers();
      for (const line of headerLines) headers.append(line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim());
      let parsed: unknown = body;
      try {
        parsed = JSON.parse(body);
      } catch {
        // left as text: the schema check will say so
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: parsed });
    });
  });
}

/** Calls, checks the answer against the document, and returns it for case-specific assertions. */
async function checked(
  base: string,
  method: Method,
  path: string,
  init: { query?: string; headers?: Record<string, string> } = {},
): Promise<LiveAnswer> {
  const answer = await call(base, method, `${path}${init.query ?? ''}`, init.headers);
  expectMatchesContract(path, method, answer);
  return answer;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
let userCount = 0;
/** A token of a user of its own, so rate limits of one case never reach another. */
function freshUser(homeserver: StandInHomeserver): string {
  userCount += 1;
  const token = `user-token-${userCount}`;
  homeserver.addToken(token, { userId: `@user${userCount}:example.org` });
  return token;
}
const errcode = (answer: LiveAnswer) => (answer.body as { errcode?: string }).errcode;

describe('openapi/openapi.yaml', () => {
  it('lints clean with Redocly CLI (recommended rules)', async () => {
    const redocly = join(REPO_ROOT, 'node_modules', '.bin', 'redocly');
    const result = await runTool(redocly, ['lint', '--config', 'redocly.yaml', '--format', 'json'], {
      cwd: OPENAPI_DIR,
      timeoutMs: 60_000,
      env: { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { totals: { errors: number; warnings: number; ignored: number }; problems: unknown[] };
    expect(report.problems).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: expect.any(Number) });
    // Exactly the reasoned exceptions of .redocly.lint-ignore.yaml, no more.
    expect(report.totals.ignored).toBe(7);
  });

  it('is a valid OpenAPI 3.1 document that documents every route the service serves', async () => {
    contract = (await SwaggerParser.validate(join(OPENAPI_DIR, 'openapi.yaml'))) as OpenAPIV3_1.Document;
    expect(contract.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(contract.paths ?? {}).sort()).toEqual([...TURN_PATHS, '/healthz', '/readyz'].sort());
    for (const path of TURN_PATHS) {
      const get = contract.paths![path]!.get!;
      // Both token locations: the bearer header and the (deprecated) query parameter.
      expect(get.security).toEqual([{ accessTokenBearer: [] }, { accessTokenQuery: [] }]);
      expect(get.parameters).toContainEqual(expect.objectContaining({ name: 'access_token', in: 'query' }));
      expect(Object.keys(get.responses ?? {}).sort()).toEqual(['200', '401', '403', '429', '500', '502', '503', '504']);
    }
  });
});

describe('live answers of the service match the document', () => {
  let homeserver: StandInHomeserver;
  let hanging: StandInHomeserver;
  let service: TestService;
  let slow: TestService;

  beforeAll(async () => {
    contract ??= (await SwaggerParser.validate(join(OPENAPI_DIR, 'openapi.yaml'))) as OpenAPIV3_1.Document;
    homeserver = await startHomeserver();
    homeserver.addToken('expired-token', { userId: '@alice:example.org', expired: true });
    homeserver.addToken('guest-token', { userId: '@guest:example.org', isGuest: true });
    service = await startTestService({
      HOMESERVER_URL: homeserver.url,
      TURN_ALLOW_GUESTS: 'false',
      RATE_LIMIT_PER_SECOND: '0.001',
      RATE_LIMIT_BURST: '2',
      // The failure cases below fail on purpose, one after another: no breaker or
      // abuse limit may turn them into a different answer.
      UPSTREAM_BREAKER_FAILURES: '10000',
      UNKNOWN_TOKEN_RATE_LIMIT_BURST: '10000',
    });
    hanging = await startHomeserver();
    hanging.mode = 'hang';
    slow = await startTestService({ HOMESERVER_URL: hanging.url, UPSTREAM_TIMEOUT_MS: '300', UPSTREAM_BREAKER_FAILURES: '10000' });
  });

  afterAll(async () => {
    await Promise.allSettled([service?.stop(), slow?.stop()]);
    await Promise.allSettled([homeserver?.close(), hanging?.close()]);
  });

  afterEach(() => {
    if (homeserver) homeserver.mode = 'normal';
  });

  it.each(TURN_PATHS)('200 credentials, token in the Authorization header: %s', async (path) => {
    const answer = await checked(service.url, 'get', path, { headers: bearer(freshUser(homeserver)) });
    expect(answer.status).toBe(200);
    expect((answer.body as { username: string }).username).toMatch(/^\d+:@user\d+:example\.org$/);
  });

  it.each(TURN_PATHS)('200 credentials, token in the access_token query parameter: %s', async (path) => {
    const answer = await checked(service.url, 'get', path, { query: `?access_token=${freshUser(homeserver)}` });
    expect(answer.status).toBe(200);
  });

  it.each(TURN_PATHS)('401 M_MISSING_TOKEN without a token, and with a token in both places: %s', async (path) => {
    expect(errcode(await checked(service.url, 'get', path))).toBe('M_MISSING_TOKEN');
    const token = freshUser(homeserver);
    const both = await checked(service.url, 'get', path, { query: `?access_token=${token}`, headers: bearer(token) });
    expect([both.status, errcode(both)]).toEqual([401, 'M_MISSING_TOKEN']);
  });

  it.each(TURN_PATHS)('401 M_UNKNOWN_TOKEN for an unknown and for an expired token: %s', async (path) => {
    const unknown = await checked(service.url, 'get', path, { headers: bearer(`nobody-${path}`) });
    expect([unknown.status, errcode(unknown), (unknown.body as { soft_logout: boolean }).soft_logout]).toEqual([
      401,
      'M_UNKNOWN_TOKEN',
      false,
    ]);
    const expired = await checked(service.url, 'get', path, { headers: bearer('expired-token') });
    expect([expired.status, errcode(expired), (expired.body as { soft_logout: boolean }).soft_logout]).toEqual([
      401,
      'M_UNKNOWN_TOKEN',
      true,
    ]);
  });

  it.each(TURN_PATHS)('403 M_GUEST_ACCESS_FORBIDDEN for a guest while guests are refused: %s', async (path) => {
    const answer = await checked(service.url, 'get', path, { headers: bearer('guest-token') });
    expect([answer.status, errcode(answer)]).toEqual([403, 'M_GUEST_ACCESS_FORBIDDEN']);
  });

  it.each(TURN_PATHS)('429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After over the limit: %s', async (path) => {
    const token = freshUser(homeserver);
    let answer: LiveAnswer | undefined;
    for (let i = 0; i < 5 && answer?.status !== 429; i += 1) answer = await checked(service.url, 'get', path, { headers: bearer(token) });
    expect([answer!.status, errcode(answer!)]).toEqual([429, 'M_LIMIT_EXCEEDED']);
    const retryAfterSeconds = Number(answer!.headers.get('retry-after'));
    expect(retryAfterSeconds).toBe(Math.ceil((answer!.body as { retry_after_ms: number }).retry_after_ms / 1000));
  });

  it.each(TURN_PATHS)('502 M_UNKNOWN when the homeserver fails or answers nonsense: %s', async (path) => {
    homeserver.mode = 'error500';
    const failing = await checked(service.url, 'get', path, { headers: bearer(`fresh-500-${path}`) });
    expect([failing.status, errcode(failing)]).toEqual([502, 'M_UNKNOWN']);
    homeserver.mode = 'html';
    const html = await checked(service.url, 'get', path, { headers: bearer(`fresh-html-${path}`) });
    expect([html.status, errcode(html)]).toEqual([502, 'M_UNKNOWN']);
  });

  it.each(TURN_PATHS)('503 M_UNKNOWN when the homeserver is overloaded: %s', async (path) => {
    homeserver.mode = 'rateLimited';
    const answer = await checked(service.url, 'get', path, { headers: bearer(`fresh-429-${path}`) });
    expect([answer.status, errcode(answer)]).toEqual([503, 'M_UNKNOWN']);
  });

  it.each(TURN_PATHS)('504 M_UNKNOWN when the homeserver does not answer in time: %s', async (path) => {
    const answer = await checked(slow.url, 'get', path, { headers: bearer(`fresh-hang-${path}`) });
    expect([answer.status, errcode(answer)]).toEqual([504, 'M_UNKNOWN']);
  });

  it.each(TURN_PATHS)('200 {} with the CORS headers to an OPTIONS preflight, without a token: %s', async (path) => {
    const answer = await checked(service.url, 'options', path);
    expect([answer.status, answer.body]).toEqual([200, {}]);
  });

  it('404 and 405 M_UNRECOGNIZED for unknown paths and methods', async () => {
    for (const path of ['/', '/_matrix/client/v3/voip/turnServerX', '/_matrix/client/v3/account/whoami']) {
      const answer = await checked(service.url, 'get', path);
      expect([answer.status, errcode(answer)]).toEqual([404, 'M_UNRECOGNIZED']);
    }
    for (const [method, path] of [
      ['post', TURN_PATHS[0]!],
      ['delete', '/healthz'],
    ] as const) {
      const answer = await checked(service.url, method, path);
      expect([answer.status, errcode(answer)]).toEqual([405, 'M_UNRECOGNIZED']);
    }
  });

  it.each(TURN_PATHS)(
    'appservice mode: 200 for the user the homeserver names, 403 M_FORBIDDEN without one or for another server: %s',
    async (path) => {
      const token = 'hs-token-for-the-openapi-test';
      const appservice = await startTestService({ AUTH_METHOD: 'appservice', SERVER_NAME: 'example.org', APPSERVICE_HS_TOKEN: token });
      try {
        const named = await checked(appservice.url, 'get', path, {
          headers: { ...bearer(token), 'x-matrix-user-identifier': '@alice:example.org' },
        });
        expect((named.body as { username: string }).username).toMatch(/:@alice:example\.org$/);
        const nobody = await checked(appservice.url, 'get', path, { headers: bearer(token) });
        expect([nobody.status, errcode(nobody)]).toEqual([403, 'M_FORBIDDEN']);
        const foreign = await checked(appservice.url, 'get', path, {
          headers: { ...bearer(token), 'x-matrix-user-identifier': '@mallory:elsewhere.org' },
        });
        expect([foreign.status, errcode(foreign)]).toEqual([403, 'M_FORBIDDEN']);
      } finally {
        await appservice.stop();
      }
    },
  );

  it('400, 414 and 431 for requests refused before routing', async () => {
    const port = service.running.port;
    const path = TURN_PATHS[0]!;
    const longUrl = await checked(service.url, 'get', path, { query: `?access_token=${'a'.repeat(SERVER_LIMITS.maxUrlBytes)}` });
    expect([longUrl.status, errcode(longUrl)]).toEqual([414, 'M_TOO_LARGE']);
    const bigHeaders = await rawCall(
      port,
      `GET ${path} HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'p'.repeat(SERVER_LIMITS.maxHeaderSizeBytes * 2)}\r\n\r\n`,
    );
    expectMatchesContract(path, 'get', bigHeaders);
    expect([bigHeaders.status, errcode(bigHeaders)]).toEqual([431, 'M_TOO_LARGE']);
    const malformed = await rawCall(port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: nope\r\n\r\n`);
    expectMatchesContract(path, 'get', malformed);
    expect([malformed.status, errcode(malformed)]).toEqual([400, 'M_UNKNOWN']);
  });

  it('GET /healthz and GET /readyz answer 200 while serving', async () => {
    expect((await checked(service.url, 'get', '/healthz')).body).toEqual({ status: 'alive' });
    expect((await checked(service.url, 'get', '/readyz')).status).toBe(200);
  });

  it('GET /readyz answers 503 while draining', async () => {
    const draining = await startTestService({ HOMESERVER_URL: homeserver.url });
    try {
      draining.running.deps.health.startDraining();
      const answer = await checked(draining.url, 'get', '/readyz');
      expect([answer.status, (answer.body as { status: string }).status]).toEqual([503, 'draining']);
      expect((await checked(draining.url, 'get', '/healthz')).status).toBe(200);
    } finally {
      await draining.stop();
    }
  });

  it('every answer the document lists was produced live above', () => {
    const documented: string[] = [];
    for (const [path, item] of Object.entries(contract.paths ?? {})) {
      for (const method of ['get', 'options'] as const) {
        for (const status of Object.keys(item?.[method]?.responses ?? {})) {
          if (!FAULT_ONLY_STATUSES.has(status)) documented.push(`${method} ${path} ${status}`);
        }
      }
    }
    expect(documented.filter((answer) => !seen.has(answer))).toEqual([]);
  });
});
