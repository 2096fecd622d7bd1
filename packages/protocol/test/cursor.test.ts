import { describe, expect, it } from 'vitest';
import { canonicalize, EPOCH, formatMicros, parseMicros } from '../src/cursor.js';

describe('canonical timestamps', () => {
  it('normalizes any ISO-8601 date-time to UTC with six fractional digits', () => {
    expect(canonicalize('2024-01-01T10:05:00Z')).toBe('2024-01-01T10:05:00.000000Z');
    expect(canonicalize('2024-01-01T10:05:00.1Z')).toBe('2024-01-01T10:05:00.100000Z');
    expect(canonicalize('2024-01-01T12:05:00.123+02:00')).toBe('2024-01-01T10:05:00.123000Z');
    expect(canonicalize('2024-01-01T00:30:00-01:00')).toBe('2024-01-01T01:30:00.000000Z');
  });

  it('truncates digits past the microsecond instead of rounding up (a cursor never skips ahead)', () => {
    expect(canonicalize('2024-01-01T10:06:15.123456789Z')).toBe('2024-01-01T10:06:15.123456Z');
    expect(canonicalize('2024-01-01T10:06:15.999999999Z')).toBe('2024-01-01T10:06:15.999999Z');
  });

  it('rejects what is not a date-time', () => {
    for (const bad of [
      '',
      'yesterday',
      '2024-01-01',
      '2024-02-30T00:00:00Z',
      '2024-13-01T00:00:00Z',
      '2024-01-01T25:00:00Z',
      '12345',
      '2024-01-01T00:00:00',
    ]) {
      expect(canonicalize(bad), bad).toBeNull();
    }
  });

  it('round-trips and sorts as strings in time order', () => {
    const a = parseMicros('2024-01-01T10:00:00.000001Z')!;
    expect(formatMicros(a)).toBe('2024-01-01T10:00:00.000001Z');
    expect(formatMicros(a + 999_999) > formatMicros(a)).toBe(true);
    expect(parseMicros(EPOCH)).toBe(0);
  });

  it('formats any microsecond as Date#toISOString would, with six fractional digits', () => {
    const reference = (micros: number) => {
      const ms = Math.floor(micros / 1000);
      return `${new Date(ms).toISOString().slice(0, 23)}${String(micros - ms * 1000).padStart(3, '0')}Z`;
    };
    const day = 86_400_000_000;
    const leap = parseMicros('2024-02-29T00:00:00Z')!;
    const edges = [0, 1, 999, 1000, day - 1, day, leap - 1, leap, leap + day - 1, Number.MAX_SAFE_INTEGER];
    // Random values, in an order that jumps between days (the formatter remembers the last one).
    const random = Array.from({ length: 20_000 }, () => Math.floor(Math.random() * Number.MAX_SAFE_INTEGER));
    for (const micros of [...edges, ...random, ...edges.reverse()]) {
      expect(formatMicros(micros), String(micros)).toBe(reference(micros));
    }
  });

  it('parses the longest date-time (38 characters) and refuses anything longer', () => {
    const longest = '2024-01-01T10:00:00.123456789012+02:00';
    expect(longest).toHaveLength(38);
    expect(canonicalize(longest)).toBe('2024-01-01T08:00:00.123456Z');
    expect(parseMicros(`${longest}   `)).toBeNull();
    expect(parseMicros(`2024-01-01T10:00:00Z${' '.repeat(100_000)}`)).toBeNull();
  });
});
