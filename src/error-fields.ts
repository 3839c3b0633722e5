// What a thrown value carries (its code; its name and message), read the one way every
// module reads it. Duck-typed, never instanceof: errors made by Node's core (fs, net,
// crypto) and by libraries loaded outside the test runner's vm context come from another
// realm than the code under test, so `instanceof Error` would be false for them there.
// A message may quote what was being read (a file, a key, a command's arguments): callers
// that must not show it pass on the code alone.

/**
 * The string `code` of a thrown value (ENOENT, UND_ERR_CONNECT_TIMEOUT, ERR_JWT_EXPIRED),
 * or undefined when it has none. With `orCause`, a value without a code of its own is
 * read through its `cause` (undici wraps the socket's error: `fetch failed`, cause
 * ECONNREFUSED).
 */
export function errorCode(error: unknown, options?: { orCause?: boolean }): string | undefined {
  const thrown = error as { code?: unknown; cause?: { code?: unknown } } | null | undefined;
  const code = thrown?.code ?? (options?.orCause === true ? thrown?.cause?.code : undefined);
  return typeof code === 'string' ? code : undefined;
}

/** The name (default 'Error') and message of anything shaped like an error; undefined for a value without a string message. */
export function errorNameAndMessage(error: unknown): { name: string; message: string } | undefined {
  if (typeof error !== 'object' || error === null || typeof (error as { message?: unknown }).message !== 'string') return undefined;
  const { name, message } = error as { name?: unknown; message: string };
  return { name: typeof name === 'string' ? name : 'Error', message };
}
