import { describe, expect, it } from '@jest/globals';
import { seriesReader } from '../../../bench/exposition.js';

describe('seriesReader', () => {
  const read = seriesReader(['up_total', 'in_flight']);

  it('keys each sample of the named series by its name and labels, and leaves the rest', () => {
    const exposition = [
      '# HELP up_total Ups.',
      '# TYPE up_total counter',
      'up_total 3',
      'in_flight{upstream="homeserver"} 2',
      'in_flight{upstream="introspection"} 0',
      'in_flight_other 7',
      'other_total{x="1"} 9',
      '',
    ].join('\n');
    expect([...read(exposition)]).toEqual([
      ['up_total', 3],
      ['in_flight{upstream="homeserver"}', 2],
      ['in_flight{upstream="introspection"}', 0],
    ]);
  });

  it('is empty for an exposition without them', () => {
    expect(read('# nothing\n').size).toBe(0);
  });
});
