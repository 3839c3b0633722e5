// Fast path: whether a response is under way on a connection, for the 'clientError' listener
// (http/client-error.ts), which must not write an answer of its own into the middle of one.
// Node hands that listener the socket only; the response it is writing sits on the socket's
// _httpMessage, which Node's own http server sets while a response owns the connection and
// reads in its default clientError handling for the same question. The public way would be a
// second 'request' listener, on the server made in server.ts, recording every response by
// its socket: work on every request for the sake of a malformed one.
//
// Measured (bench/fast-paths.ts, node 20.20.2): that listener would cost about 17 ns a
// request (0.04 % of the ~48 µs a request costs); this costs nothing per request. Kept less
// for those nanoseconds than because the hot path takes no work it does not need, and this
// is the field Node's own handling reads.
// Checked against node 20.20.2: test/unit/fast-paths/response-under-way.test.ts holds that a
// real server's socket answers true between the response's headers and its end, and false
// before and after, so a Node that stops setting _httpMessage fails there.

import type { Duplex } from 'node:stream';

/** Node's name for the response that owns a server-side socket; undefined or null when none does. */
interface NodeServerSocket {
  _httpMessage?: { readonly headersSent?: boolean } | null;
}

/** True when a response on this connection has sent its headers and not yet released the socket. */
export function responseUnderWay(socket: Duplex): boolean {
  return (socket as NodeServerSocket)._httpMessage?.headersSent === true;
}
