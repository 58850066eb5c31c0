// `grapevine flag set`'s options as the PUT body they make, and the errors that name the option.
import { describe, expect, it } from 'vitest';
import { parseVariant, settingsOf } from '../../cli/flag-commands.js';

describe('grapevine flag set options', () => {
  it('make the body: typed variants, lists, and none for no percentage', () => {
    expect(settingsOf({ env: 'production', on: true, percent: '12.5%', users: 'alice, bob,', segments: '', variant: ['a=1', 'b=2.5'], serveOn: 'b', serveOff: 'a' })).toEqual({
      enabled: true,
      percent: 12.5,
      users: ['alice', 'bob'],
      segments: [],
      variants: { a: 1, b: 2.5 },
      onVariant: 'b',
      offVariant: 'a',
    });
    expect(settingsOf({ env: 'production', percent: 'none', off: true })).toEqual({ enabled: false, percent: null });
    expect(parseVariant('on=true')).toEqual(['on', true]);
    expect(parseVariant('colour=#00f=blue')).toEqual(['colour', '#00f=blue']);
    expect(parseVariant('empty=')).toEqual(['empty', '']);
  });

  it('refuses bad options naming them', () => {
    expect(() => settingsOf({ env: 'p', percent: '150' })).toThrow('--percent must be from 0 to 100; got 150');
    expect(() => settingsOf({ env: 'p', percent: 'half' })).toThrow('--percent must be a number from 0 to 100 (or none); got "half"');
    expect(() => settingsOf({ env: 'p', on: true, off: true })).toThrow('--on and --off cannot both be given');
    expect(() => settingsOf({ env: 'p', variant: ['a=x', 'b=1'] })).toThrow('--variant must all be of one type: strings, numbers or booleans');
    expect(() => settingsOf({ env: 'p', variant: ['=x'] })).toThrow('--variant must be NAME=VALUE');
    expect(() => settingsOf({ env: 'p', serveOn: 'no good' })).toThrow(/^--serve-on must be 1-64 characters/);
  });
});
