// CORS as the Matrix client-server spec asks of every endpoint, and the OPTIONS preflight.

import type { Context, Middleware } from 'koa';

export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'Access-Control-Allow-Headers': 'X-Requested-With, Content-Type, Authorization',
  // A browser client may read the id its request was logged under, to quote it in a report.
  'Access-Control-Expose-Headers': 'X-Request-ID',
};

const CORS_ENTRIES = Object.entries(CORS_HEADERS);

/** On every answer, errors included (request-envelope.ts calls it first). */
export function applyCorsHeaders(ctx: Context): void {
  for (const [name, value] of CORS_ENTRIES) ctx.res.setHeader(name, value);
}

/** Preflight: no authentication, an empty JSON object, as Synapse answers. */
export const preflight: Middleware = function preflight(ctx) {
  ctx.status = 200;
  ctx.body = {};
};
