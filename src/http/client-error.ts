// Answers for requests that never reach Koa: what Node's HTTP parser rejects (headers too
// large, control characters, an unknown method, a request that took too long), CONNECT,
// and URLs longer than any turnServer request needs. Node's own answers are a bare
// "400 Bad Request"; these are Matrix errors like every other answer, with CORS headers
// so a browser client can read them, and an X-Request-ID like every other answer's, which
// the debug line of the refusal carries too. Nothing from the request is echoed or logged:
// the raw bytes of a rejected request may hold an access token.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { responseUnderWay } from '../fast-paths/response-under-way.js';
import type { Logger } from '../logger.js';
import { CORS_HEADERS } from './cors.js';
import { REQUEST_ID_HEADER, type RequestIdOf } from './request-id.js';
import { errorCode } from '../error-fields.js';
import { MatrixError, httpAnswer } from '../errors.js';

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

/** The Matrix error for a parser failure, by Node's error code. */
export function parserErrorToMatrix(code: string | undefined): MatrixError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return MatrixError.headersTooLarge();
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return MatrixError.requestTimeout();
    case 'HPE_INVALID_METHOD':
      return MatrixError.unrecognized(405);
    default:
      return MatrixError.badRequest('Malformed HTTP request');
  }
}

/** What every answer written here carries after its own headers: the connection closes after it. */
function closingHeaders(requestId: string): Record<string, string> {
  return { Connection: 'close', [REQUEST_ID_HEADER]: requestId, ...CORS_HEADERS };
}

/** A whole HTTP/1.1 response for a connection Koa never saw; the connection closes after it. */
export function rawErrorResponse(error: MatrixError, requestId: string): string {
  const answer = httpAnswer(error);
  const headers: Record<string, string> = {
    ...answer.headers,
    'Content-Length': String(Buffer.byteLength(answer.body)),
    ...closingHeaders(requestId),
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${answer.body}`;
}

/**
 * The server's 'clientError' listener. `requestIdOf` is the app's (request-id.ts): no
 * header of a request the parser refused is read, so its id is always one generated.
 */
export function answerClientError(logger: Logger, requestIdOf: RequestIdOf): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return function clientError(error, socket) {
    const code = errorCode(error);
    // A response already under way on this connection cannot be followed by another.
    const responding = responseUnderWay(socket);
    if (code === 'ECONNRESET' || !socket.writable || responding) {
      socket.destroy();
      return;
    }
    const answer = parserErrorToMatrix(code);
    const requestId = requestIdOf(undefined);
    logger.debug({ code, status: answer.status, requestId }, 'malformed request refused before routing');
    socket.end(rawErrorResponse(answer, requestId));
  };
}

/** The server's 'connect' listener: this is not a proxy. */
export function refuseConnect(requestIdOf: RequestIdOf): (req: IncomingMessage, socket: Duplex) => void {
  return function connect(req, socket) {
    socket.end(rawErrorResponse(MatrixError.unrecognized(405), requestIdOf(req.headers['x-request-id'])));
  };
}

/**
 * Refuses a URL longer than `maxUrlBytes` with 414 before the app parses it. `handler` is
 * Koa's callback, which answers through `res` and never rejects: nothing awaits it.
 */
export function limitUrlLength(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
  maxUrlBytes: number,
  requestIdOf: RequestIdOf,
): RequestListener {
  return function urlLengthLimit(req, res) {
    if ((req.url ?? '').length <= maxUrlBytes) {
      void handler(req, res);
      return;
    }
    const answer = httpAnswer(MatrixError.urlTooLong());
    res.writeHead(answer.status, { ...answer.headers, ...closingHeaders(requestIdOf(req.headers['x-request-id'])) });
    res.end(answer.body);
  };
}
