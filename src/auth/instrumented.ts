// Counts verifications by method and result (valid, invalid, error) for
// matrix_turn_token_verifications_total, around any verifier.

import { MatrixError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { TokenVerifier } from './types.js';

export function instrumentedVerifier(inner: TokenVerifier, metrics: Metrics): TokenVerifier {
  const valid = metrics.tokenVerifications.tally(inner.method, 'valid');
  const invalid = metrics.tokenVerifications.tally(inner.method, 'invalid');
  const failed = metrics.tokenVerifications.tally(inner.method, 'error');
  return {
    method: inner.method,
    async verify(token, facts) {
      try {
        const identity = await inner.verify(token, facts);
        valid.inc();
        return identity;
      } catch (error) {
        (error instanceof MatrixError && error.status < 500 ? invalid : failed).inc();
        throw error;
      }
    },
    close: inner.close?.bind(inner),
  };
}
