// The MessagePack subset the Serf RPC client speaks: what it encodes decodes back, byte
// strings come back as bytes, and a value cut short asks for more bytes instead of failing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IncompleteMessage, decode, encode, type Packable } from '../../shared/serf/msgpack.js';

const packable: fc.Arbitrary<Packable> = fc.letrec<{ value: Packable }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.string({ maxLength: 300 }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 40 }), tie('value'), { maxKeys: 20 }),
  ),
})).value;

describe('msgpack', () => {
  it('decodes what it encodes, strings, integers, arrays and maps of any size', () => {
    fc.assert(fc.property(packable, (value) => {
      const { value: back, next } = decode(encode(value));
      expect(back).toEqual(value);
      expect(next).toBe(encode(value).length);
    }), { numRuns: 500 });
  });

  it('decodes byte strings as bytes and long strings with 16- and 32-bit lengths', () => {
    const bytes = Buffer.from([1, 2, 3, 250]);
    expect(decode(encode(bytes)).value).toEqual(bytes);
    const long = 'k'.repeat(70_000);
    expect(decode(encode({ Key: long })).value).toEqual({ Key: long });
  });

  it('asks for more bytes when a value is cut short', () => {
    const whole = encode({ Seq: 3, Error: '', Messages: { h1: 'ok' } });
    for (let cut = 0; cut < whole.length; cut++) expect(() => decode(whole.subarray(0, cut))).toThrow(IncompleteMessage);
  });
});
