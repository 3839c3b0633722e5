// The rule a list of TURN shared secrets is held to, at start and at every re-read of its
// file (secret-file.ts), so both give the same verdict. Its own module: the flat rules
// (rules.ts) and the turn_servers section (turn-servers.ts) both use it, and the table of
// settings (variables.ts) imports the section.

/**
 * What is wrong with a comma-separated list of TURN shared secrets, or undefined. An empty
 * entry first would sign with an empty key: HMAC-SHA1("", username), which coturn refuses
 * and anyone can compute. Words only, never a part of the value.
 */
export function sharedSecretsProblem(secrets: string): string | undefined {
  return secrets.split(',').some((secret) => secret.trim() === '') ? 'has an empty entry in its comma-separated list' : undefined;
}
