// A minimal msgpack encoder, independent of the code under test, so suites can build messages that break the
// contract in exact ways (wrong dtype, lying dims) which our own encoder refuses to produce.

/** Values the writer can encode: msgpack's nil, bool, int/float64, str, bin, array and map. */
export type MsgpackValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly MsgpackValue[]
  | { readonly [key: string]: MsgpackValue | undefined };

/** Encodes `value` as msgpack. Undefined map fields are left out. */
export function packMsgpack(value: MsgpackValue): Uint8Array {
  const out: number[] = [];
  const bytes = (...b: number[]) => out.push(...b);
  const be = (n: number, width: number) => {
    for (let i = width - 1; i >= 0; i -= 1) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  };
  const write = (v: MsgpackValue): void => {
    if (v === null) return void bytes(0xc0);
    if (typeof v === 'boolean') return void bytes(v ? 0xc3 : 0xc2);
    if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= 0 && v <= 0x7f) return void bytes(v);
      if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return void (bytes(0xce), be(v, 4));
      if (Number.isInteger(v) && v < 0 && v >= -0x80000000) return void (bytes(0xd2), be(v >>> 0, 4));
      const f = new DataView(new ArrayBuffer(8));
      f.setFloat64(0, v);
      return void bytes(0xcb, ...new Uint8Array(f.buffer));
    }
    if (typeof v === 'string') {
      const s = new TextEncoder().encode(v);
      if (s.length < 32) {
        bytes(0xa0 | s.length);
      } else {
        bytes(0xdb);
        be(s.length, 4);
      }
      return void out.push(...s);
    }
    if (v instanceof Uint8Array) {
      bytes(0xc6);
      be(v.length, 4);
      for (const b of v) out.push(b);
      return;
    }
    if (Array.isArray(v)) {
      bytes(0xdd);
      be(v.length, 4);
      for (const item of v as readonly MsgpackValue[]) write(item);
      return;
    }
    const entries = Object.entries(v).filter(([, x]) => x !== undefined) as [string, MsgpackValue][];
    bytes(0xdf);
    be(entries.length, 4);
    for (const [key, item] of entries) {
      write(key);
      write(item);
    }
  };
  write(value);
  return Uint8Array.from(out);
}
