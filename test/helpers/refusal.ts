// What a client would see when a verification fails: the MatrixError's status, body and
// headers. Anything that is not a MatrixError (a crash) fails the test instead.

import { MatrixError } from '../../src/errors.js';

export interface Refusal {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  detail: string | undefined;
}

export async function refusal(pending: Promise<unknown>): Promise<Refusal> {
  try {
    await pending;
  } catch (error) {
    if (error instanceof MatrixError) return { status: error.status, body: error.body(), headers: error.headers, detail: error.detail };
    throw error;
  }
  throw new Error('the token was accepted');
}
