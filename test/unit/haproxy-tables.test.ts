// The tables HAProxy's runtime API answers with (`show stat`, `show servers state`), read by
// column name: every row, or only the rows whose cells match (a drain reads one server's row of
// a backend of many).
import { describe, expect, it } from 'vitest';
import { parseTable, splitReplies } from '../../shared/haproxy/runtime-socket.js';

const STAT = [
  '# pxname,svname,qcur,qmax,scur,smax',
  'web,h1,0,0,3,9',
  'web,h2,1,2,0,4',
  'web-staging,h1,0,0,7,7',
  '',
].join('\n');

describe('HAProxy runtime API tables', () => {
  it('reads every row by column name, a missing cell as empty', () => {
    const rows = parseTable(['# a b c', '1 2 3', '4 5', ''], ' ');
    expect(rows).toEqual([
      { a: '1', b: '2', c: '3' },
      { a: '4', b: '5', c: '' },
    ]);
  });

  it('keeps only the rows whose cells hold what `where` names', () => {
    expect(parseTable(STAT.split('\n'), ',', { pxname: 'web', svname: 'h1' })).toEqual([{ pxname: 'web', svname: 'h1', qcur: '0', qmax: '0', scur: '3', smax: '9' }]);
    expect(parseTable(STAT.split('\n'), ',', { svname: 'h1' }).map((row) => row.pxname)).toEqual(['web', 'web-staging']);
  });

  it('finds no row for a server it does not list, or for a column the table lacks', () => {
    expect(parseTable(STAT.split('\n'), ',', { pxname: 'web', svname: 'h9' })).toEqual([]);
    expect(parseTable(STAT.split('\n'), ',', { srv_name: 'h1' })).toEqual([]);
  });

  it('skips what comes before the header and comment lines after it', () => {
    expect(parseTable(['1', '# a b', '# a comment', 'x y'], ' ')).toEqual([{ a: 'x', b: 'y' }]);
    expect(parseTable(['no header here'], ' ')).toEqual([]);
  });

  it('splits a line of replies at the empty lines between them', () => {
    expect(splitReplies(`\n${STAT}\n`, 2)).toEqual(['', STAT.replace(/\n$/, '')]);
    expect(splitReplies('', 2)).toEqual(['', undefined]);
  });
});
