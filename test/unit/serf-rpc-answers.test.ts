// Reading the Serf agent's answers off the RPC stream: a header, then a body only when the
// command has one and the header's error allows it, however the bytes are cut into chunks.
import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { AnswerReader } from '../../shared/serf/serf-rpc.js';

async function* chunksOf(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

const concat = (...values: unknown[]) => Buffer.concat(values.map((value) => encode(value)));
const listKeys = { Seq: 2, Error: '' };
/** A 32-byte key in base64: 44 characters, past the short string form. */
const KEY = 'XC5YPpSkjzH7mz8uB1oxDKcMHhhJcgjuSyJSDeWCbD4=';
const keysBody = { Messages: {}, Keys: { [KEY]: 3 }, NumNodes: 3, NumErr: 0, NumResp: 3 };
const nextHeader = { Seq: 3, Error: '' };

describe('reading Serf RPC answers', () => {
  it('reads a header and its body sent in one chunk, and the answer after them', async () => {
    const reader = new AnswerReader(chunksOf(concat(listKeys, keysBody, nextHeader)));
    expect(await reader.read(true)).toEqual({ error: '', body: keysBody });
    expect(await reader.read(false)).toEqual({ error: '', body: undefined });
  });

  it('reads the same answers wherever the stream is cut, and one byte at a time', async () => {
    const whole = concat(listKeys, keysBody, nextHeader);
    for (let cut = 1; cut < whole.length; cut++) {
      const reader = new AnswerReader(chunksOf(whole.subarray(0, cut), whole.subarray(cut)));
      expect(await reader.read(true)).toEqual({ error: '', body: keysBody });
      expect(await reader.read(false)).toEqual({ error: '', body: undefined });
    }
    const reader = new AnswerReader(chunksOf(...Array.from(whole, (byte) => Uint8Array.of(byte))));
    expect(await reader.read(true)).toEqual({ error: '', body: keysBody });
    expect(await reader.read(false)).toEqual({ error: '', body: undefined });
  });

  it("reads no body after an error Serf sends without one, and a command's own error with its body", async () => {
    const refused = { Seq: 2, Error: 'Authentication required' };
    const failed = { Seq: 3, Error: '1 error(s) occurred' };
    const reader = new AnswerReader(chunksOf(concat(refused, failed, keysBody)));
    expect(await reader.read(true)).toEqual({ error: 'Authentication required', body: undefined });
    expect(await reader.read(true)).toEqual({ error: '1 error(s) occurred', body: keysBody });
  });

  it('says the agent closed the connection when the stream ends before a whole answer', async () => {
    const whole = concat(listKeys, keysBody);
    await expect(new AnswerReader(chunksOf()).read(false)).rejects.toThrow('the agent closed the connection');
    await expect(new AnswerReader(chunksOf(whole.subarray(0, whole.length - 1))).read(true)).rejects.toThrow('the agent closed the connection');
  });

  it('refuses an answer whose header is not a map', async () => {
    await expect(new AnswerReader(chunksOf(concat('Seq'))).read(false)).rejects.toThrow('the agent sent something other than a response header');
  });
});
