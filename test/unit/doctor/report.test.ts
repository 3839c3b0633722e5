// The doctor's report (src/doctor/report.ts): the text a person reads top to bottom (a
// title per section, the status first on each line, the cause beneath, the totals last)
// and the JSON of the same findings in their fixed shape.

import { check, findings } from '../../../src/doctor/findings.js';
import { renderJson, renderText } from '../../../src/doctor/report.js';

const SECTIONS = [
  { title: 'Configuration', checks: [check('ok', 'the configuration loads', 'from the environment')] },
  {
    title: 'TURN server "default": turn:turn.example.org',
    checks: [
      check('ok', 'the name resolves', 'turn.example.org is 203.0.113.7'),
      check('fail', 'the port answers', 'no answer', 'a firewall'),
      check('skip', 'a Binding gives a reflexive address', 'not tried: an earlier step failed'),
      check('warn', 'something odd'),
    ],
  },
];

describe('the text', () => {
  it('lists each section and check in order, the cause under what failed, and the totals', () => {
    expect(renderText(findings(SECTIONS), 'doctor 1.0')).toBe(
      [
        'doctor 1.0',
        '',
        'Configuration',
        '  ok    the configuration loads: from the environment',
        '',
        'TURN server "default": turn:turn.example.org',
        '  ok    the name resolves: turn.example.org is 203.0.113.7',
        '  FAIL  the port answers: no answer',
        '        cause: a firewall',
        '  skip  a Binding gives a reflexive address: not tried: an earlier step failed',
        '  WARN  something odd',
        '',
        'Result: something is broken (1 failed, 1 warning, 2 passed, 1 skipped).',
        '',
      ].join('\n'),
    );
  });

  it('says everything works when nothing failed, warnings included', () => {
    const text = renderText(findings([{ title: 'A', checks: [check('ok', 'a'), check('warn', 'b', undefined, 'c')] }]), 'doctor');
    expect(text.trimEnd().split('\n').pop()).toBe('Result: everything that was checked works (1 warning, 1 passed).');
  });
});

describe('the JSON', () => {
  it('is { ok, sections: [{ title, checks: [{ status, what, detail?, cause? }] }] }, without absent fields', () => {
    const parsed = JSON.parse(renderJson(findings(SECTIONS))) as unknown;
    expect(parsed).toEqual({ ok: false, sections: SECTIONS });
    expect(Object.keys((parsed as { sections: { checks: object[] }[] }).sections[1]!.checks[3]!)).toEqual(['status', 'what']);
    expect(JSON.parse(renderJson(findings([SECTIONS[0]!])))).toMatchObject({ ok: true });
  });
});
