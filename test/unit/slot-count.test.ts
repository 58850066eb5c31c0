import { describe, expect, it } from 'vitest';
import { slotCount } from '../../shared/contract/slot-count.js';

describe('slot count', () => {
  it('is ceil(n/3) by default', () => {
    expect([1, 2, 3, 4, 6, 7, 12, 30, 1000].map((n) => slotCount(n, '1/3'))).toEqual([1, 1, 1, 2, 2, 3, 4, 10, 334]);
  });

  it('takes decimal fractions and whole numbers', () => {
    expect(slotCount(10, '0.25')).toBe(3);
    expect(slotCount(8, '0.25')).toBe(2);
    expect(slotCount(10, 4)).toBe(4);
    expect(slotCount(9, '1')).toBe(9);
  });

  it('always leaves at least one slot', () => {
    expect(slotCount(0, '1/3')).toBe(1);
    expect(slotCount(1, '0.1')).toBe(1);
  });
});
