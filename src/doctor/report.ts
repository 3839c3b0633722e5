// The doctor's findings as a person reads them top to bottom (a title per section, a line
// per check with its status first, the cause beneath what failed, a last line with the
// totals), or as JSON in the shape findings.ts fixes, for scripts and `helm test`.

import type { CheckStatus, Findings } from './findings.js';

const LABELS: Readonly<Record<CheckStatus, string>> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' };
const INDENT = '  ';
const LABEL_WIDTH = 6;

export function renderText(findings: Findings, heading: string): string {
  const lines = [heading];
  for (const section of findings.sections) {
    lines.push('', section.title);
    for (const { status, what, detail, cause } of section.checks) {
      lines.push(`${INDENT}${LABELS[status].padEnd(LABEL_WIDTH)}${what}${detail === undefined ? '' : `: ${detail}`}`);
      if (cause !== undefined) lines.push(`${INDENT}${' '.repeat(LABEL_WIDTH)}cause: ${cause}`);
    }
  }
  lines.push('', summary(findings), '');
  return lines.join('\n');
}

export function renderJson(findings: Findings): string {
  return `${JSON.stringify({ ok: findings.ok, sections: findings.sections }, null, 2)}\n`;
}

function summary(findings: Findings): string {
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const section of findings.sections) for (const { status } of section.checks) counts[status] += 1;
  const parts = [
    counts.fail > 0 && `${counts.fail} failed`,
    counts.warn > 0 && `${counts.warn} ${counts.warn === 1 ? 'warning' : 'warnings'}`,
    `${counts.ok} passed`,
    counts.skip > 0 && `${counts.skip} skipped`,
  ].filter((part): part is string => part !== false);
  return `${findings.ok ? 'Result: everything that was checked works' : 'Result: something is broken'} (${parts.join(', ')}).`;
}
