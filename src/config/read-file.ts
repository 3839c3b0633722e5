// Reading the files the settings name (CONFIG_FILE, X_FILE secrets, a section's *_file):
// the reader, injectable for tests, and the words for why a read failed.

import { errorCode } from '../error-fields.js';

export type ReadFile = (path: string) => string;

/** The error's code when it has one (ENOENT, EACCES; the YAML parser's BAD_INDENT): its message may quote the file. */
export function whyUnreadable(error: unknown): string {
  return errorCode(error) ?? (error instanceof Error ? error.message : String(error));
}
