// What the doctor finds: sections of checks, each check one thing a person can confirm or
// fix, in the order it is printed. This is also the --json shape, kept stable for scripts:
// { ok, sections: [{ title, checks: [{ status, what, detail?, cause? }] }] }.

/**
 * ok: passed; warn: passed, but likely wrong for clients elsewhere; fail: broken;
 * skip: not tried (nothing to check, or an earlier step failed).
 */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  readonly status: CheckStatus;
  /** What was checked, in words: "the name resolves". */
  readonly what: string;
  /** What was found: an address, a user id, the probe's own account of a failure. Never a secret. */
  readonly detail?: string;
  /** For a warning or a failure: its likely cause and what to change, in words. */
  readonly cause?: string;
}

export interface Section {
  readonly title: string;
  readonly checks: readonly Check[];
}

export interface Findings {
  /** No check failed (warnings do not fail the run: the doctor cannot know every network a client comes from). */
  readonly ok: boolean;
  readonly sections: readonly Section[];
}

export function findings(sections: readonly Section[]): Findings {
  return { ok: sections.every((section) => section.checks.every((check) => check.status !== 'fail')), sections };
}

/** A check, without the optional fields that are undefined (so the JSON holds no `"detail": undefined` gaps). */
export function check(status: CheckStatus, what: string, detail?: string, cause?: string): Check {
  return { status, what, ...(detail !== undefined && { detail }), ...(cause !== undefined && { cause }) };
}
