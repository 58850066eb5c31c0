// What a wake-up hands the woken host (wake-next.lua: `SCORE` or `SCORE:NUMBER`): its arrival
// score always, and the number a release freed when it is one of the deploy's slots.
import { describe, expect, it } from 'vitest';
import { handedOver } from '../../shared/redis/slot-locks.js';

describe('a wake-up handed to a waiting host', () => {
  it('gives the score, and the freed number when it is a slot of the deploy', () => {
    expect(handedOver('1796412762123456:7', 10)).toEqual({ score: '1796412762123456', slot: 7 });
    expect(handedOver('1796412762123456', 10)).toEqual({ score: '1796412762123456' });
    expect(handedOver('1.5e+15:1', 1)).toEqual({ score: '1.5e+15', slot: 1 });
  });

  it('hands over no number past the slot count, and nothing for what is not a score', () => {
    expect(handedOver('1796412762123456:11', 10)).toEqual({ score: '1796412762123456' });
    expect(handedOver('1796412762123456:0', 10)).toEqual({ score: '1796412762123456' });
    expect(handedOver('1796412762123456:2.5', 10)).toEqual({ score: '1796412762123456' });
    expect(handedOver(undefined, 10)).toEqual({ score: '' });
    expect(handedOver('', 10)).toEqual({ score: '' });
    expect(handedOver('soon:3', 10)).toEqual({ score: '', slot: 3 });
  });
});
