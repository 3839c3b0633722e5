// Which upstream a request path reaches, read from a proxy's configuration file the way
// that proxy applies its rules, for the directives the examples use (no proxy binary
// runs where the tests run). Each reader throws on a line it does not understand inside
// the part it reads, so a changed example cannot slip past by being skipped.

import { activeLines } from './example-files.js';

/** A path's destination: the upstream address and the path it is sent with. */
export interface Destination {
  readonly upstream: string;
  readonly path: string;
}

/**
 * Caddy: the first site block's `route { ... }`, whose handlers run in the order written.
 * Named matchers (`@name path ...`: exact, or a prefix with a trailing `*`) are defined in
 * the site block; `reverse_proxy [@name | /path*] upstream`.
 */
export function caddyRoute(caddyfile: string, path: string): Destination | undefined {
  const lines = activeLines(caddyfile);
  const matchers = new Map<string, string[]>();
  for (const line of lines) {
    const named = /^@(\S+)\s+path\s+(.+)$/.exec(line);
    if (named) matchers.set(named[1]!, named[2]!.split(/\s+/));
  }
  const start = lines.indexOf('route {');
  if (start < 0) throw new Error('no route block');
  for (const line of lines.slice(start + 1)) {
    if (line === '}') break;
    const [directive, ...args] = line.split(/\s+/);
    if (directive !== 'reverse_proxy') throw new Error(`unexpected handler in route: ${line}`);
    const [first, second] = args as [string, string | undefined];
    const patterns = first.startsWith('@') ? matchers.get(first.slice(1)) : first.startsWith('/') ? [first] : ['*'];
    if (patterns === undefined) throw new Error(`undefined matcher ${first}`);
    const upstream = second ?? first;
    if (patterns.some((pattern) => pathMatches(pattern, path))) return { upstream, path };
  }
  return undefined;
}

function pathMatches(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

/**
 * HAProxy: the first frontend's `acl NAME path|path_beg VALUES...`, then its
 * `use_backend B if NAME` lines in order, then `default_backend`; the backend's first
 * `server NAME ADDRESS`.
 */
export function haproxyRoute(config: string, path: string): Destination | undefined {
  const sections = haproxySections(config);
  const frontend = [...sections.entries()].find(([name]) => name.startsWith('frontend '))?.[1];
  if (frontend === undefined) throw new Error('no frontend');
  const acls = new Map<string, (p: string) => boolean>();
  let backend: string | undefined;
  for (const line of frontend) {
    const [keyword, ...args] = line.split(/\s+/);
    if (keyword === 'acl') {
      const [name, fetch, ...values] = args as [string, string, ...string[]];
      if (fetch === 'path') acls.set(name, (p) => values.includes(p));
      else if (fetch === 'path_beg') acls.set(name, (p) => values.some((v) => p.startsWith(v)));
      else throw new Error(`unsupported acl: ${line}`);
    } else if (keyword === 'use_backend' && backend === undefined) {
      const [name, condition, acl] = args as [string, string, string];
      if (condition !== 'if') throw new Error(`unsupported use_backend: ${line}`);
      const test = acls.get(acl);
      if (test === undefined) throw new Error(`use_backend before its acl: ${line}`);
      if (test(path)) backend = name;
    } else if (keyword === 'default_backend' && backend === undefined) {
      backend = args[0];
    }
  }
  if (backend === undefined) return undefined;
  const server = sections
    .get(`backend ${backend}`)
    ?.find((line) => line.startsWith('server '))
    ?.split(/\s+/)[2];
  if (server === undefined) throw new Error(`backend ${backend} has no server`);
  return { upstream: server, path };
}

function haproxySections(config: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of activeLines(config)) {
    if (/^(global|defaults|frontend|backend|listen)\b/.test(line)) sections.set(line, (current = []));
    else if (current === undefined) throw new Error(`outside any section: ${line}`);
    else current.push(line);
  }
  return sections;
}

/**
 * Apache httpd: `ProxyPass PREFIX URL [options]` lines in the order written, the first
 * whose prefix starts the path wins, and the rest of the path is appended to the URL.
 */
export function apacheRoute(lines: readonly string[], path: string): Destination | undefined {
  for (const line of lines) {
    const match = /^ProxyPass\s+(\S+)\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, prefix, target] = match as unknown as [string, string, string];
    if (!path.startsWith(prefix)) continue;
    const url = new URL(target + path.slice(prefix.length));
    return { upstream: url.host, path: url.pathname };
  }
  return undefined;
}
