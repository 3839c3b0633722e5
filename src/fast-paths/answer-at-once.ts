// Fast path: the credential answer written in one res.writeHead with every header as a flat
// array and one res.end, instead of through Koa's response (ctx.set for each header, the
// body setter's status, type and length steps, respond()). Node builds the header block
// straight from such an array when no header was set before (its writeHead takes the
// progressive setHeader path otherwise, merging, which is correct but no faster), so the
// envelope sets the headers every answer carries (request-envelope.ts) only after the
// route, and only on an answer not written here. ctx.respond = false is Koa's own way to
// say the response was written by hand: respond() then leaves it alone.
//
// Measured: see docs/development.md ("Where the time went"), which gives the gain of each
// step with the bench's --ab=build.
// Checked against koa 3.3.0 and node 20.20.2 and 24: test/unit/fast-paths/answer-at-once.test.ts
// holds the status line, every header and the body equal to what Koa writes for the same
// answer, so an upgrade that changes either fails there.

import type { Context } from 'koa';

/**
 * Answers `status` with `body` (a UTF-8 string) and `headers` (name, value, name, value...),
 * Content-Length added. Nothing may have set a header on `ctx` before, or it would be merged
 * in Node's slower way (still correct).
 */
export function answerAtOnce(ctx: Context, status: number, headers: string[], body: string): void {
  headers.push('Content-Length', String(Buffer.byteLength(body)));
  ctx.respond = false;
  ctx.res.writeHead(status, headers);
  ctx.res.end(body);
}
