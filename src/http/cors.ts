// CORS as the Matrix client-server spec asks of every endpoint, and the OPTIONS preflight.

import type { Middleware } from 'koa';

export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'Access-Control-Allow-Headers': 'X-Requested-With, Content-Type, Authorization',
};

export const cors: Middleware = async function cors(ctx, next) {
  ctx.set(CORS_HEADERS);
  await next();
};

/** Preflight: no authentication, an empty JSON object, as Synapse answers. */
export const preflight: Middleware = function preflight(ctx) {
  ctx.status = 200;
  ctx.body = {};
};
