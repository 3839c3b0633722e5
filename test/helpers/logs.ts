// A pino destination that keeps every line, to assert on what the service logged.

import { Writable } from 'node:stream';

export interface CapturedLogs {
  readonly stream: Writable;
  readonly lines: string[];
  text(): string;
  entries(): Record<string, unknown>[];
}

export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l !== ''));
      callback();
    },
  });
  return {
    stream,
    lines,
    text: () => lines.join('\n'),
    entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
