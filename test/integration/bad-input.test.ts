// Bad input from clients, sent over raw sockets so that nothing between the test and the
// service tidies it up: malformed Authorization headers, tokens in two places, odd paths,
// methods and query strings, oversized and slow requests, bytes that are not HTTP. Each
// gets a clear 4xx Matrix error (JSON, errcode, CORS headers), never a 5xx or a crash,
// and none of it reaches the homeserver.

import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { getRequest, rawRequest, type RawResponse } from '../helpers/raw-http.js';
import { startTestService, type TestService } from '../helpers/service.js';

const PATH = '/_matrix/client/v3/voip/turnServer';
const VALID = 'syt_YWxpY2U_valid_token_4f7c2a';

let homeserver: StandInHomeserver;
let service: TestService;

beforeAll(async () => {
  homeserver = await startHomeserver();
  homeserver.addToken(VALID, { userId: '@alice:example.org' });
  service = await startTestService(
    { HOMESERVER_URL: homeserver.url, LOG_LEVEL: 'debug' },
    // Short parser deadlines so the slow-request cases take a second, not half a minute.
    { limits: { headersTimeoutMs: 1000, requestTimeoutMs: 2000, connectionsCheckingIntervalMs: 100 } },
  );
});

afterAll(async () => {
  await service?.stop();
  await homeserver?.close();
});

const port = () => service.running.port;

/** What every refusal must look like. */
function expectMatrixError(res: RawResponse, status: number, errcode?: string): void {
  expect({ status: res.status, body: res.json }).toEqual({
    status,
    body: expect.objectContaining({ errcode: errcode ?? expect.stringMatching(/^M_[A-Z_]+$/), error: expect.any(String) }),
  });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['access-control-allow-origin']).toBe('*');
  expect(res.headers['x-request-id']).toMatch(GENERATED_ID);
}

/** A generated request id: this process's prefix and a counter (src/http/request-id.ts). */
const GENERATED_ID = /^[0-9a-f]{12}-[0-9a-z]+$/;
const prefixOf = (id: string | undefined) => id?.split('-')[0];

test("an answer written before routing has an id from the same series as the app's, and the debug line names it", async () => {
  const routed = await rawRequest(port(), getRequest(PATH, []));
  const refused = await rawRequest(port(), getRequest(PATH, ['Authorization: Bearer ab\x00cd']));
  expect([routed.status, refused.status]).toEqual([401, 400]);
  expect(prefixOf(refused.headers['x-request-id'])).toBe(prefixOf(routed.headers['x-request-id']));
  expect(refused.headers['x-request-id']).not.toBe(routed.headers['x-request-id']);
  expect(service.logs.entries()).toContainEqual(
    expect.objectContaining({ msg: 'malformed request refused before routing', requestId: refused.headers['x-request-id'] }),
  );
});

describe('malformed Authorization headers', () => {
  const cases: [string, string[], number, string][] = [
    ['no header', [], 401, 'M_MISSING_TOKEN'],
    ['an empty header', ['Authorization: '], 401, 'M_MISSING_TOKEN'],
    ['the scheme alone', ['Authorization: Bearer'], 401, 'M_MISSING_TOKEN'],
    ['the scheme and blanks', ['Authorization: Bearer    '], 401, 'M_MISSING_TOKEN'],
    ['no scheme', [`Authorization: ${VALID}`], 401, 'M_MISSING_TOKEN'],
    ['the wrong scheme', ['Authorization: Basic YWxpY2U6c2VjcmV0'], 401, 'M_MISSING_TOKEN'],
    ['a scheme glued to the token', [`Authorization: Bearer:${VALID}`], 401, 'M_MISSING_TOKEN'],
    ['two tokens in one header', [`Authorization: Bearer ${VALID} ${VALID}`], 401, 'M_MISSING_TOKEN'],
    ['comma-separated credentials', [`Authorization: Bearer ${VALID}, Bearer other`], 401, 'M_MISSING_TOKEN'],
    ['two Authorization headers', [`Authorization: Bearer ${VALID}`, 'Authorization: Bearer other'], 401, 'M_MISSING_TOKEN'],
    ['a 12 kB token', [`Authorization: Bearer ${'A'.repeat(12 * 1024)}`], 401, 'M_UNKNOWN_TOKEN'],
    ['non-ASCII (UTF-8 bytes)', [Buffer.from('Authorization: Bearer tök€n', 'utf8').toString('latin1')], 401, 'M_UNKNOWN_TOKEN'],
    ['non-ASCII (Latin-1 bytes)', ['Authorization: Bearer t\xf6ken'], 401, 'M_UNKNOWN_TOKEN'],
  ];
  test.each(cases)('%s: the expected 401, and the homeserver is not asked', async (_name, lines, status, errcode) => {
    const before = homeserver.calls;
    expectMatrixError(await rawRequest(port(), getRequest(PATH, lines)), status, errcode);
    expect(homeserver.calls).toBe(before);
  });

  const controlCharacters: [string, string][] = [
    ['NUL', '\x00'],
    ['a bare line feed inside the value', 'a\nb'],
    ['escape', '\x1b'],
    ['DEL', '\x7f'],
    ['a bare carriage return', 'a\rb'],
  ];
  test.each(controlCharacters)('control character (%s) in the token: 400 before routing', async (_name, bad) => {
    const before = homeserver.calls;
    const res = await rawRequest(port(), getRequest(PATH, [`Authorization: Bearer ab${bad}cd`]));
    expectMatrixError(res, 400);
    expect(homeserver.calls).toBe(before);
  });

  test('headers larger than the limit: 431 M_TOO_LARGE, as JSON', async () => {
    const res = await rawRequest(port(), getRequest(PATH, [`Authorization: Bearer ${'A'.repeat(20 * 1024)}`]));
    expectMatrixError(res, 431, 'M_TOO_LARGE');
    expect(res.body).not.toContain('AAAA');
  });

  test('many small headers adding up past the limit: 431', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(40)}`);
    expectMatrixError(await rawRequest(port(), getRequest(PATH, lines)), 431, 'M_TOO_LARGE');
  });
});

describe('the token in two places, and odd query strings', () => {
  test('header and query string both: 401 M_MISSING_TOKEN, as Synapse', async () => {
    const res = await rawRequest(port(), getRequest(`${PATH}?access_token=${VALID}`, [`Authorization: Bearer ${VALID}`]));
    expectMatrixError(res, 401, 'M_MISSING_TOKEN');
  });

  const queries: [string, string, number, string][] = [
    ['an empty access_token', '?access_token=', 401, 'M_MISSING_TOKEN'],
    ['access_token twice', `?access_token=${VALID}&access_token=${VALID}`, 401, 'M_MISSING_TOKEN'],
    ['access_token as an array', `?access_token[]=${VALID}`, 401, 'M_MISSING_TOKEN'],
    ['a broken percent-escape', '?access_token=%E0%A4%A', 401, 'M_UNKNOWN_TOKEN'],
    ['an encoded NUL', '?access_token=ab%00cd', 401, 'M_UNKNOWN_TOKEN'],
    ['an encoded space', '?access_token=ab%20cd', 401, 'M_UNKNOWN_TOKEN'],
    ['a 9 kB token', `?access_token=${'b'.repeat(9000)}`, 401, 'M_UNKNOWN_TOKEN'],
    ['over a thousand parameters', `?${Array.from({ length: 1200 }, (_, i) => `p${i}=1`).join('&')}`, 401, 'M_MISSING_TOKEN'],
    ['thousands of access_token parameters', `?${'access_token=x&'.repeat(600)}`, 401, 'M_MISSING_TOKEN'],
  ];
  test.each(queries)('%s: the expected 401, and the homeserver is not asked', async (_name, query, status, errcode) => {
    const before = homeserver.calls;
    expectMatrixError(await rawRequest(port(), getRequest(`${PATH}${query}`)), status, errcode);
    expect(homeserver.calls).toBe(before);
  });

  test('a URL longer than any turnServer request needs: 414 M_TOO_LARGE', async () => {
    const res = await rawRequest(port(), getRequest(`${PATH}?pad=${'x'.repeat(11_000)}`));
    expectMatrixError(res, 414, 'M_TOO_LARGE');
  });

  test('a URL past the header limit: 431 M_TOO_LARGE', async () => {
    expectMatrixError(await rawRequest(port(), getRequest(`${PATH}?pad=${'x'.repeat(17_000)}`)), 431, 'M_TOO_LARGE');
  });
});

describe('odd paths and methods', () => {
  const paths: [string, string][] = [
    '/',
    '/_matrix/client/v4/voip/turnServer',
    '/_matrix/client/v3/voip/turnserver/extra',
    '/_matrix/client/v3/voip/turnServer/..%2f..%2fadmin',
    '/../../../../etc/passwd',
    '//_matrix//client/v3/voip/turnServer',
    '/_matrix/client/v3/voip/turnServer%00',
    '/_matrix/client/v3/voip/%ZZ',
    '/%',
    '/metrics',
  ].map((path): [string, string] => [path, path]);
  paths.push(['a 6 kB path', `/${'a/'.repeat(3000)}`]);
  test.each(paths)('GET %s: 404 M_UNRECOGNIZED', async (_name, path) => {
    expectMatrixError(await rawRequest(port(), getRequest(path, [`Authorization: Bearer ${VALID}`])), 404, 'M_UNRECOGNIZED');
  });

  test('a request target that is not a path (absolute-form, asterisk): a 4xx Matrix error', async () => {
    for (const target of [`http://evil.example${PATH}`, '*']) {
      const res = await rawRequest(port(), getRequest(target));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expectMatrixError(res, res.status);
    }
  });

  const methods: [string, number][] = [
    ['POST', 405],
    ['PUT', 405],
    ['DELETE', 405],
    ['PATCH', 405],
    ['PROPFIND', 405],
    ['TRACE', 405],
    ['MKCOL', 405],
    ['FOO', 405],
    ['get', 405],
  ];
  test.each(methods)('%s on turnServer: %d M_UNRECOGNIZED', async (method, status) => {
    expectMatrixError(await rawRequest(port(), getRequest(PATH, [`Authorization: Bearer ${VALID}`], method)), status, 'M_UNRECOGNIZED');
  });

  test('CONNECT: 405 M_UNRECOGNIZED, this is not a proxy', async () => {
    const res = await rawRequest(port(), 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
    expectMatrixError(res, 405, 'M_UNRECOGNIZED');
  });

  test('a body on GET and a WebSocket upgrade are ignored: the request is answered as usual', async () => {
    const withBody = await rawRequest(
      port(),
      getRequest(PATH, ['Content-Length: 5', 'Content-Type: text/plain']).replace(/\r\n\r\n$/, '\r\n\r\nhello'),
    );
    expectMatrixError(withBody, 401, 'M_MISSING_TOKEN');
    const upgrade = await rawRequest(
      port(),
      getRequest(PATH, ['Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']),
    );
    expectMatrixError(upgrade, 401, 'M_MISSING_TOKEN');
  });

  test('HEAD and OPTIONS behave: HEAD is refused as the Matrix API defines GET only, even with a valid token', async () => {
    const callsBefore = homeserver.calls;
    for (const lines of [[], [`Authorization: Bearer ${VALID}`]]) {
      const head = await rawRequest(port(), getRequest(PATH, lines, 'HEAD'));
      expect(head.status).toBe(405);
      expect(head.headers.allow).toBe('GET, OPTIONS');
      expect(head.headers['access-control-allow-origin']).toBe('*');
      expect(head.body).toBe('');
    }
    expect(homeserver.calls).toBe(callsBefore);
    const options = await rawRequest(
      port(),
      getRequest(PATH, ['Origin: https://app.element.io', 'Access-Control-Request-Method: GET'], 'OPTIONS'),
    );
    expect(options.status).toBe(200);
    expect(options.headers['access-control-allow-origin']).toBe('*');
  });
});

describe('bytes that are not HTTP, and requests that never finish', () => {
  const garbage: [string, Buffer][] = [
    ['a TLS ClientHello', Buffer.from('16030100a5010000a10303', 'hex')],
    ['a bare line', Buffer.from('hello\r\n\r\n')],
    ['HTTP/2 prior knowledge', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['a bad HTTP version', Buffer.from(`GET ${PATH} HTTP/9.9\r\nHost: x\r\n\r\n`)],
    ['a header without a colon', Buffer.from(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nAuthorization Bearer x\r\n\r\n`)],
    ['a space before the colon', Buffer.from(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer x\r\n\r\n`)],
    [
      'conflicting lengths (request smuggling)',
      Buffer.from(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`),
    ],
    [
      'a length and chunked together (request smuggling)',
      Buffer.from(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`),
    ],
  ];
  test.each(garbage)('%s: a 4xx Matrix error, then the connection closes', async (_name, bytes) => {
    const res = await rawRequest(port(), bytes);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expectMatrixError(res, res.status);
  });

  test('headers that never finish (slowloris): 408 once the headers timeout passes', async () => {
    const res = await rawRequest(port(), `GET ${PATH} HTTP/1.1\r\nHost: x\r\nX-Slow: a`);
    expectMatrixError(res, 408, 'M_UNKNOWN');
  });

  test('a body that never finishes: answered without waiting for it, and the connection cut at the request timeout', async () => {
    // rawRequest resolves only once the server closes the connection: the test's own
    // deadline is far past the 2 s request timeout set above.
    const res = await rawRequest(port(), `GET ${PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a little`);
    expectMatrixError(res, 401, 'M_MISSING_TOKEN');
  });
});

describe('after all that', () => {
  test('keep-alive outlasts a load balancer idle timeout of 60 s', async () => {
    const res = await fetch(`${service.url}/healthz`);
    expect(res.headers.get('keep-alive')).toBe('timeout=65');
  });

  test('the service is alive and serves a good request; no answer was a 5xx; the homeserver saw one call', async () => {
    const before = homeserver.calls;
    const res = await service.turnServer(VALID);
    expect(res.status).toBe(200);
    expect(homeserver.calls).toBe(before + 1);
    const metrics = await service.metrics();
    expect(metrics).not.toMatch(/matrix_turn_http_request_duration_seconds_count\{[^}]*status="5\d\d"/);
    expect(service.logs.text()).not.toMatch(/"level":"(error|fatal)"/);
  });
});
