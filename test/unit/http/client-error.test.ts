// The answers written before Koa sees a request, on a plain Node server with only these
// listeners: the bytes a client receives for what Node's parser refuses, for CONNECT and for
// a URL too long, each a Matrix error with CORS headers and a request id on a connection
// that then closes; the log line the operator gets, with that id and never the request's bytes.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { MatrixError } from '../../../src/errors.js';
import { answerClientError, limitUrlLength, parserErrorToMatrix, rawErrorResponse, refuseConnect } from '../../../src/http/client-error.js';
import { requestIds } from '../../../src/http/request-id.js';
import { createLogger } from '../../../src/logger.js';
import { captureLogs, type CapturedLogs } from '../../helpers/logs.js';
import { rawRequest } from '../../helpers/raw-http.js';

const CORS_LINES =
  'Access-Control-Allow-Origin: *\r\n' +
  'Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n' +
  'Access-Control-Allow-Headers: X-Requested-With, Content-Type, Authorization\r\n' +
  'Access-Control-Expose-Headers: X-Request-ID\r\n';

describe('parserErrorToMatrix', () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 431, 'M_TOO_LARGE', 'Request headers too large'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'M_UNKNOWN', 'Request not received in time'],
    ['HPE_INVALID_METHOD', 405, 'M_UNRECOGNIZED', 'Unrecognized request'],
    ['HPE_INVALID_HEADER_TOKEN', 400, 'M_UNKNOWN', 'Malformed HTTP request'],
    [undefined, 400, 'M_UNKNOWN', 'Malformed HTTP request'],
  ])('%s is %d %s', (code, status, errcode, message) => {
    const error = parserErrorToMatrix(code);
    expect([error.status, error.errcode, error.message]).toEqual([status, errcode, message]);
  });
});

describe('rawErrorResponse', () => {
  it('is a whole HTTP/1.1 response: status line, JSON type, exact length, Connection: close, CORS, the Matrix body', () => {
    const body = '{"errcode":"M_TOO_LARGE","error":"Request headers too large"}';
    expect(rawErrorResponse(MatrixError.headersTooLarge(), '3f9a0c12b7e4-1a')).toBe(
      'HTTP/1.1 431 Request Header Fields Too Large\r\n' +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${body.length}\r\n` +
        'Connection: close\r\n' +
        'X-Request-ID: 3f9a0c12b7e4-1a\r\n' +
        CORS_LINES +
        '\r\n' +
        body,
    );
  });

  it("carries the error's own headers, and counts the body's bytes, not its characters", () => {
    const raw = rawErrorResponse(new MatrixError(400, 'M_UNKNOWN', 'Requête mal formée', { headers: { 'Retry-After': '1' } }), 'id-7');
    const body = '{"errcode":"M_UNKNOWN","error":"Requête mal formée"}';
    expect(raw).toBe(
      'HTTP/1.1 400 Bad Request\r\n' +
        'Content-Type: application/json; charset=utf-8\r\n' +
        'Retry-After: 1\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n' +
        'X-Request-ID: id-7\r\n' +
        CORS_LINES +
        '\r\n' +
        body,
    );
    expect(Buffer.byteLength(body)).toBe(body.length + 2);
  });
});

describe('on a server', () => {
  const MAX_URL_BYTES = 64;
  let server: Server;
  let port: number;
  let logs: CapturedLogs;
  let handled: string[];

  beforeAll(async () => {
    // As behind TRUST_PROXY: a proxy's id is taken where a request's headers were read.
    const requestIdOf = requestIds({ trustProxy: true, prefix: 'raw' });
    server = createServer(
      { maxHeaderSize: 2048 },
      limitUrlLength(
        (req, res) => {
          handled.push(req.url ?? '');
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        },
        MAX_URL_BYTES,
        requestIdOf,
      ),
    );
    server.on('clientError', answerClientError(createLogger('debug', { write: (line: string) => logs.stream.write(line) }), requestIdOf));
    server.on('connect', refuseConnect(requestIdOf));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    logs = captureLogs();
    handled = [];
  });

  const get = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`;

  test('a URL up to the limit reaches the app; one byte longer is 414 M_TOO_LARGE with CORS, and the app never sees it', async () => {
    const atLimit = `/${'a'.repeat(MAX_URL_BYTES - 1)}`;
    expect((await rawRequest(port, get(atLimit))).status).toBe(200);
    const res = await rawRequest(port, get(`${atLimit}b`));
    expect(res.status).toBe(414);
    expect(res.json).toEqual({ errcode: 'M_TOO_LARGE', error: 'Request URL too long' });
    expect(res.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      connection: 'close',
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
      'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization',
      'x-request-id': expect.stringMatching(/^raw-[0-9a-z]+$/),
    });
    expect(handled).toEqual([atLimit]);
  });

  test("a URL too long through a trusted proxy: 414 with the proxy's X-Request-ID", async () => {
    const res = await rawRequest(port, get(`/${'a'.repeat(MAX_URL_BYTES)}`, 'X-Request-ID: edge-5c1e\r\n'));
    expect([res.status, res.headers['x-request-id']]).toEqual([414, 'edge-5c1e']);
  });

  test('headers past the limit: exactly the raw 431 answer, and a debug line with the code, never the request', async () => {
    const token = 'syt_secret_token_4f1a';
    const res = await rawRequest(port, get('/', `Authorization: Bearer ${token}\r\nX-Pad: ${'x'.repeat(4096)}\r\n`));
    const requestId = res.headers['x-request-id']!;
    expect(requestId).toMatch(/^raw-[0-9a-z]+$/);
    expect(res.raw).toBe(rawErrorResponse(MatrixError.headersTooLarge(), requestId));
    expect(logs.entries()).toEqual([
      expect.objectContaining({
        level: 'debug',
        msg: 'malformed request refused before routing',
        code: 'HPE_HEADER_OVERFLOW',
        status: 431,
        requestId,
      }),
    ]);
    expect(logs.text()).not.toContain(token);
    expect(handled).toEqual([]);
  });

  test('a header line that is no header: exactly the raw 400 answer', async () => {
    const res = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n');
    expect(res.raw).toBe(rawErrorResponse(MatrixError.badRequest('Malformed HTTP request'), res.headers['x-request-id']!));
  });

  test('each refused request has an id of its own, and one a client wrote is never taken from a request the parser refused', async () => {
    const bad = 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: forged-1\r\nno colon here\r\n\r\n';
    const ids = [(await rawRequest(port, bad)).headers['x-request-id'], (await rawRequest(port, bad)).headers['x-request-id']];
    expect(ids).toEqual([expect.stringMatching(/^raw-[0-9a-z]+$/), expect.stringMatching(/^raw-[0-9a-z]+$/)]);
    expect(ids[0]).not.toBe(ids[1]);
  });

  test('CONNECT: exactly the raw 405 answer, this is not a proxy', async () => {
    const res = await rawRequest(port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nX-Request-ID: edge-77\r\n\r\n');
    expect(res.raw).toBe(rawErrorResponse(MatrixError.unrecognized(405), 'edge-77'));
    expect(handled).toEqual([]);
  });
});

describe('answerClientError on a connection it must not answer', () => {
  const listener = () => answerClientError(createLogger('silent'), requestIds({ trustProxy: false }));
  const written = (socket: PassThrough) => socket.read() as Buffer | null;

  test('a connection the client reset is closed without a word', () => {
    const socket = new PassThrough();
    listener()(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), socket);
    expect(socket.destroyed).toBe(true);
    expect(written(socket)).toBeNull();
  });

  test('a connection with a response already under way is closed rather than given a second one', () => {
    const socket = Object.assign(new PassThrough(), { _httpMessage: { headersSent: true } });
    listener()(Object.assign(new Error('Parse Error'), { code: 'HPE_INVALID_CONSTANT' }), socket);
    expect(socket.destroyed).toBe(true);
    expect(written(socket)).toBeNull();
  });
});
