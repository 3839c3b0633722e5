// The process's log lines are gathered and written in batches: every line arrives, in
// order, exactly once; a full batch is one write; flush() hands over the rest and writes
// nothing when nothing is gathered. (That the built process writes its lines within a
// second while idle is tested on the process: test/integration/process-logs.test.ts.)

import { createLogger, lineBatcher } from '../../src/logger.js';

function recordingTarget() {
  const writes: string[] = [];
  return { writes, write: (chunk: string) => void writes.push(chunk) };
}

test('lines leave in order, one write per full batch, and flush() hands over the rest', () => {
  const target = recordingTarget();
  const batcher = lineBatcher(target, 100);
  const lines = Array.from({ length: 25 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 7)}"}\n`);
  for (const line of lines) batcher.write(line);
  expect(target.writes.length).toBeGreaterThan(1);
  expect(target.writes.every((chunk) => chunk.length >= 100)).toBe(true);
  batcher.flush();
  expect(target.writes.join('')).toBe(lines.join(''));
  const writesSoFar = target.writes.length;
  batcher.flush();
  expect(target.writes).toHaveLength(writesSoFar);
});

test('a pino logger on a batcher writes its lines only when the batch is full or flushed', () => {
  const target = recordingTarget();
  const batcher = lineBatcher(target, 4096);
  const logger = createLogger('info', batcher);
  logger.info({ n: 1 }, 'first');
  logger.info({ n: 2 }, 'second');
  expect(target.writes).toEqual([]);
  logger.flush();
  expect(target.writes).toHaveLength(1);
  expect(
    target.writes[0]!.trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>),
  ).toMatchObject([
    { level: 'info', n: 1, msg: 'first' },
    { level: 'info', n: 2, msg: 'second' },
  ]);
});
