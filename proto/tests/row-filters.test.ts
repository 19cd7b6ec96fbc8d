import { describe, expect, it } from 'vitest';
import { filteredLength, filterRows, type RowLayout, unfilterRows } from '../src/row-filters.js';
import { seededRandom } from '../src/seeded-random.js';

function roundTrip(bytes: Uint8Array, layout: RowLayout): { filtered: Uint8Array; back: Uint8Array | string } {
  const filtered = new Uint8Array(filteredLength(bytes.length, layout) + 2);
  filterRows(bytes, layout, filtered, 2);
  return { filtered, back: unfilterRows(filtered, 2, bytes.length, layout) };
}

const typesOf = (filtered: Uint8Array, rows: number, length: number, at = 2): number[] =>
  Array.from({ length: rows }, (_, r) => filtered[at + r * (length + 1)]!);

describe('PNG row filters', () => {
  it('round-trip any bytes, for one and for three interleaved channels', () => {
    const next = seededRandom(5);
    for (const layout of [
      { length: 28, bpp: 1 },
      { length: 3 * 17, bpp: 3 },
      { length: 1, bpp: 1 },
    ]) {
      const bytes = Uint8Array.from({ length: layout.length * 9 }, () => Math.floor(next() * 256));
      expect(roundTrip(bytes, layout).back).toEqual(bytes);
    }
  });

  it('pick the filter that predicts each row: none for a flat row, sub for a ramp, up for a repeated row', () => {
    const length = 16;
    const flat = new Uint8Array(length);
    const ramp = Uint8Array.from({ length }, (_, i) => 10 + 7 * i);
    const bytes = new Uint8Array([...flat, ...ramp, ...ramp.map((v) => (v + 91) % 256), ...ramp]);
    const { filtered, back } = roundTrip(bytes, { length, bpp: 1 });
    expect(back).toEqual(bytes);
    const types = typesOf(filtered, 4, length);
    expect(types[0]).toBe(0);
    expect(types[1]).toBe(1);
    // The last row repeats the ramp two rows up, but `up` sees the row right above: a ramp again, so sub or up.
    expect([1, 2]).toContain(types[3]);
    // A smooth 2-D gradient: every row after the first is predicted from above (up or paeth), not from the left.
    const grid = Uint8Array.from(
      { length: length * length },
      (_, i) => ((i % length) * 3 + Math.floor(i / length) * 5) % 256,
    );
    const g = roundTrip(grid, { length, bpp: 1 });
    expect(g.back).toEqual(grid);
    expect(
      typesOf(g.filtered, length, length)
        .slice(1)
        .every((t) => t >= 1),
    ).toBe(true);
  });

  it('name the row of an unknown filter type instead of guessing', () => {
    const bytes = Uint8Array.from({ length: 8 }, (_, i) => i);
    const { filtered } = roundTrip(bytes, { length: 4, bpp: 1 });
    filtered[2 + 5] = 7;
    expect(unfilterRows(filtered, 2, 8, { length: 4, bpp: 1 })).toBe("row 1 has filter type 7; PNG's are 0-4");
  });

  it('cost one type byte per row', () => {
    expect(filteredLength(96 * 96, { length: 96, bpp: 1 })).toBe(96 * 96 + 96);
    expect(filteredLength(0, { length: 0, bpp: 1 })).toBe(0);
  });
});
