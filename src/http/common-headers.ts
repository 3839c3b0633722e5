// The headers every answer on the public port carries: CORS, as the Matrix client-server
// spec asks of every endpoint, the request id (request-id.ts) and, once the service is
// draining, Connection: close, so the client reconnects to another replica and the process
// can exit as soon as the last answer is out (decided when the answer is written, so a
// request in flight when draining began gets it too). The envelope (request-envelope.ts)
// sets them on each answer the route left to Koa; a route that writes its answer at once
// (fast-paths/answer-at-once.ts) lists them with its own.

import type { ServerResponse } from 'node:http';
import { CORS_HEADERS } from './cors.js';
import { REQUEST_ID_HEADER } from './request-id.js';

const CORS_LIST: readonly string[] = Object.entries(CORS_HEADERS).flat();

/** The common headers and then `own`, as one flat list of names and values. */
export function commonHeaderList(requestId: string, draining: boolean, own: readonly string[]): string[] {
  const list = [REQUEST_ID_HEADER, requestId, ...CORS_LIST, ...own];
  if (draining) list.push('Connection', 'close');
  return list;
}

/** The same headers, set on an answer Koa will write. */
export function setCommonHeaders(res: ServerResponse, requestId: string, draining: boolean): void {
  const list = commonHeaderList(requestId, draining, []);
  for (let i = 0; i < list.length; i += 2) res.setHeader(list[i]!, list[i + 1]!);
}
