// The part of MessagePack that Serf's RPC speaks: nil, booleans, integers, floats,
// strings, byte strings, arrays and maps. Enough to talk to the agent directly, so a
// key never has to travel on a `serf keys` command line.

export type Packable = null | boolean | number | string | Uint8Array | Packable[] | { [key: string]: Packable };

export function encode(value: Packable): Buffer {
  const parts: Buffer[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

/** How a kind of value states its length: a fix form for short ones, then 8-, 16- and 32-bit lengths. */
interface LengthCodes {
  fix?: { base: number; max: number };
  len8?: number;
  len16: number;
  len32: number;
}
const STRING: LengthCodes = { fix: { base: 0xa0, max: 31 }, len8: 0xd9, len16: 0xda, len32: 0xdb };
const BYTES: LengthCodes = { len8: 0xc4, len16: 0xc5, len32: 0xc6 };
const ARRAY: LengthCodes = { fix: { base: 0x90, max: 15 }, len16: 0xdc, len32: 0xdd };
const MAP: LengthCodes = { fix: { base: 0x80, max: 15 }, len16: 0xde, len32: 0xdf };

function write(value: Packable, out: Buffer[]): void {
  if (value === null) out.push(Buffer.from([0xc0]));
  else if (typeof value === 'boolean') out.push(Buffer.from([value ? 0xc3 : 0xc2]));
  else if (typeof value === 'number') out.push(encodeNumber(value));
  else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    out.push(lengthPrefix(bytes.length, STRING), bytes);
  } else if (value instanceof Uint8Array) out.push(lengthPrefix(value.length, BYTES), Buffer.from(value));
  else if (Array.isArray(value)) {
    out.push(lengthPrefix(value.length, ARRAY));
    for (const item of value) write(item, out);
  } else {
    const entries = Object.entries(value);
    out.push(lengthPrefix(entries.length, MAP));
    for (const [key, item] of entries) {
      write(key, out);
      write(item, out);
    }
  }
}

function encodeNumber(value: number): Buffer {
  const buffer = Buffer.alloc(9);
  if (!Number.isSafeInteger(value)) {
    buffer[0] = 0xcb;
    buffer.writeDoubleBE(value, 1);
  } else if (value >= 0 && value < 128) {
    return Buffer.from([value]);
  } else if (value < 0 && value >= -32) {
    return Buffer.from([value & 0xff]);
  } else if (value >= 0) {
    buffer[0] = 0xcf;
    buffer.writeBigUInt64BE(BigInt(value), 1);
  } else {
    buffer[0] = 0xd3;
    buffer.writeBigInt64BE(BigInt(value), 1);
  }
  return buffer;
}

function lengthPrefix(length: number, codes: LengthCodes): Buffer {
  if (codes.fix && length <= codes.fix.max) return Buffer.from([codes.fix.base | length]);
  if (codes.len8 !== undefined && length < 0x100) return Buffer.from([codes.len8, length]);
  if (length < 0x10000) return Buffer.from([codes.len16, length >> 8, length & 0xff]);
  const buffer = Buffer.alloc(5);
  buffer[0] = codes.len32;
  buffer.writeUInt32BE(length, 1);
  return buffer;
}

/** Thrown when the buffer ends inside a value: wait for more bytes, then decode again from the start. */
export class IncompleteMessage extends Error {}

/** Decodes one value at `offset`; returns it and where the next one starts. Byte strings decode to Buffers. */
export function decode(buffer: Buffer, offset = 0): { value: unknown; next: number } {
  const reader = new Reader(buffer, offset);
  const value = reader.value();
  return { value, next: reader.offset };
}

class Reader {
  constructor(
    private readonly buffer: Buffer,
    public offset: number,
  ) {}

  value(): unknown {
    const code = this.uint(1);
    if (code < 0x80) return code;
    if (code >= 0xe0) return code - 0x100;
    if (code >= 0xa0 && code <= 0xbf) return this.text(code & 0x1f);
    if (code >= 0x90 && code <= 0x9f) return this.array(code & 0x0f);
    if (code >= 0x80 && code <= 0x8f) return this.map(code & 0x0f);
    switch (code) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bytes(this.uint(1));
      case 0xc5: return this.bytes(this.uint(2));
      case 0xc6: return this.bytes(this.uint(4));
      case 0xca: return this.take(4).readFloatBE(0);
      case 0xcb: return this.take(8).readDoubleBE(0);
      case 0xcc: return this.uint(1);
      case 0xcd: return this.uint(2);
      case 0xce: return this.uint(4);
      case 0xcf: return Number(this.take(8).readBigUInt64BE(0));
      case 0xd0: return this.take(1).readInt8(0);
      case 0xd1: return this.take(2).readInt16BE(0);
      case 0xd2: return this.take(4).readInt32BE(0);
      case 0xd3: return Number(this.take(8).readBigInt64BE(0));
      case 0xd9: return this.text(this.uint(1));
      case 0xda: return this.text(this.uint(2));
      case 0xdb: return this.text(this.uint(4));
      case 0xdc: return this.array(this.uint(2));
      case 0xdd: return this.array(this.uint(4));
      case 0xde: return this.map(this.uint(2));
      case 0xdf: return this.map(this.uint(4));
      default: throw new Error(`unsupported MessagePack type 0x${code.toString(16)}`);
    }
  }

  private take(length: number): Buffer {
    if (this.offset + length > this.buffer.length) throw new IncompleteMessage();
    const slice = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  private uint(length: 1 | 2 | 4): number {
    return this.take(length).readUIntBE(0, length);
  }

  private text(length: number): string {
    return this.take(length).toString('utf8');
  }

  private bytes(length: number): Buffer {
    return Buffer.from(this.take(length));
  }

  private array(length: number): unknown[] {
    return Array.from({ length }, () => this.value());
  }

  private map(length: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (let i = 0; i < length; i++) {
      const key = this.value();
      result[Buffer.isBuffer(key) ? key.toString('utf8') : String(key)] = this.value();
    }
    return result;
  }
}
