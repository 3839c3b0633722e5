// HTTP over a raw TCP socket, for requests fetch() and node:http refuse to send (control
// characters, oversized or duplicated headers, unknown methods, garbage bytes), and a
// parser for what comes back.

import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The JSON body, or undefined when it is not JSON. */
  readonly json: Record<string, unknown> | undefined;
  readonly raw: string;
}

/**
 * Sends `request` (bytes or latin1 text, sent as is) and reads until the server closes
 * the connection. Requests should say `Connection: close` unless the server is expected
 * to close by itself. Rejects when nothing complete arrives within `timeoutMs`.
 */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 20_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString('latin1').slice(0, 300)}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server may close while we still write (e.g. headers too large): the answer it
    // wrote before closing is what counts.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      try {
        resolve(parseResponse(raw));
      } catch (error) {
        reject(error);
      }
    });
    socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  });
}

export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no HTTP response head in: ${JSON.stringify(raw.slice(0, 300))}`);
  const [statusLine, ...headerLines] = raw.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!match) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = raw.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  else if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: Number(match[1]), headers, body, json, raw };
}

function unchunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd === -1) return out;
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/** A GET request's text with the given extra header lines, closing the connection after. */
export function getRequest(path: string, headerLines: readonly string[] = [], method = 'GET'): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: localhost', ...headerLines, 'Connection: close', '', ''].join('\r\n');
}
