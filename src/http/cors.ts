// CORS as the Matrix client-server spec asks of every endpoint (on every answer: common-headers.ts), and the OPTIONS preflight.

import type { Middleware } from 'koa';

export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'Access-Control-Allow-Headers': 'X-Requested-With, Content-Type, Authorization',
  // A browser client may read the id its request was logged under, to quote it in a report.
  'Access-Control-Expose-Headers': 'X-Request-ID',
};

/** Preflight: no authentication, an empty JSON object, as Synapse answers. */
export const preflight: Middleware = function preflight(ctx) {
  ctx.status = 200;
  ctx.body = {};
};
