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
    const a = Number(parseMicros('2024-01-01T10:00:00.000001Z'));
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
    const leap = Number(parseMicros('2024-02-29T00:00:00Z'));
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

  it('parses exactly what the grammar (as a regular expression) accepts, to the same instant', () => {
    // The definition the scanner in cursor.ts implements, through Date: the reference.
    const ISO =
      /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,12}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;
    const reference = (input: string): number | bigint | null => {
      const m = ISO.exec(input);
      if (!m) return null;
      const [, y, mo, d, h, mi, sec, frac = '', z, sign, oh = '0', om = '0'] = m;
      if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(h) > 23) return null;
      if (Number(mi) > 59 || Number(sec) > 59 || Number(oh) > 23 || Number(om) > 59) return null;
      const date = new Date(0);
      date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
      date.setUTCHours(Number(h), Number(mi), Number(sec), 0);
      if (date.getUTCDate() !== Number(d)) return null;
      const offset = z ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
      // Exact: a bigint throughout, a number again where that is exact (as parseMicros answers).
      const micros =
        BigInt(date.getTime() - offset * 60_000) * 1000n + BigInt(frac.padEnd(6, '0').slice(0, 6));
      if (micros < -62_135_596_800_000_000n || micros >= 253_402_300_800_000_000n) return null;
      return micros >= BigInt(Number.MIN_SAFE_INTEGER) && micros <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(micros)
        : micros;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    const num = (max: number, width: number) => String(Math.floor(Math.random() * max)).padStart(width, '0');
    // Mostly well-formed, with the edges of each part among the choices.
    const part = (lo: number, hi: number, width: number, edges: string[]) =>
      Math.random() < 0.9
        ? String(lo + Math.floor(Math.random() * (hi - lo + 1))).padStart(width, '0')
        : pick(edges);
    const generated = () =>
      `${part(1970, 2400, 4, ['1969', '1900', '9999', '0000', '0001', '0099', '1600', '2256', '10000'])}-${part(1, 12, 2, ['00', '13'])}-` +
      `${part(1, 28, 2, ['00', '29', '30', '31', '32'])}${pick(['T', 'T', 't', ' ', 'x'])}` +
      `${part(0, 23, 2, ['24', '99'])}:${part(0, 59, 2, ['60'])}:${part(0, 59, 2, ['60', '5'])}` +
      pick([
        '',
        '',
        '.',
        ',',
        `.${num(10 ** 6, 1 + Math.floor(Math.random() * 6))}`,
        `,${'9'.repeat(12)}`,
        `.${'1'.repeat(13)}`,
      ]) +
      pick([
        'Z',
        'Z',
        'z',
        '',
        '+00:00',
        '-01:00',
        `+${part(0, 23, 2, ['24'])}${pick([':', ''])}${part(0, 59, 2, ['60'])}`,
        '-0530',
        '+1',
        'Zz',
      ]);
    const chars = '0123456789-:.,+TtZz x\u0660';
    const mutated = (s: string) => {
      const at = Math.floor(Math.random() * (s.length + 1));
      const c = pick([...chars]);
      return pick([
        s.slice(0, at) + c + s.slice(at + 1),
        s.slice(0, at) + s.slice(at + 1),
        s.slice(0, at) + c + s.slice(at),
      ]);
    };
    const inputs = [
      '2024-02-29T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2000-02-29T23:59:59.999999Z',
      '2100-02-29T00:00:00Z',
      '2400-02-29T00:00:00Z',
    ];
    for (let k = 0; k < 20_000; k++) {
      const g = generated();
      inputs.push(g, mutated(g), mutated(mutated(g)));
    }
    let accepted = 0;
    for (const input of inputs) {
      const want = reference(input);
      expect(parseMicros(input), input).toBe(want);
      if (want !== null) accepted++;
    }
    // Both sides of the grammar were exercised, not just refusals.
    expect(accepted).toBeGreaterThan(inputs.length / 20);
  });

  it('covers 0001-01-01 to 9999-12-31T23:59:59.999999Z without losing a microsecond', () => {
    const edges = [
      '0001-01-01T00:00:00.000000Z',
      '0001-01-01T00:00:00.000001Z',
      '1000-06-15T12:34:56.789012Z',
      '1684-12-31T23:59:59.999999Z',
      '1969-12-31T23:59:59.999999Z',
      '2255-06-05T23:47:34.740991Z', // 2^53 - 1 µs: the last safe integer
      '2255-06-05T23:47:34.740992Z',
      '2255-06-05T23:47:34.740993Z',
      '2300-01-01T00:00:00.000001Z',
      '9999-12-31T23:59:59.999999Z',
    ];
    for (const text of edges) {
      const micros = parseMicros(text);
      expect(micros, text).not.toBeNull();
      expect(formatMicros(micros!), text).toBe(text);
      expect(canonicalize(text), text).toBe(text);
    }
    expect(parseMicros('9999-12-31T23:59:59.999999Z')).toBe(253_402_300_799_999_999n);
    expect(parseMicros('0001-01-01T00:00:00.000001Z')).toBe(-62_135_596_799_999_999n);
    expect(parseMicros('1969-12-31T23:59:59.999999Z')).toBe(-1);
    // Any other spelling of the same instant comes out exact too (formatted, not kept).
    expect(canonicalize('2300-01-01T01:00:00.000001+01:00')).toBe('2300-01-01T00:00:00.000001Z');
    expect(canonicalize('9999-12-31T22:59:59.9999999-01:00')).toBe('9999-12-31T23:59:59.999999Z');
    expect(canonicalize('0001-01-01T01:00:00.000001+01:00')).toBe('0001-01-01T00:00:00.000001Z');
    // Outside the range: refused.
    for (const out of [
      '0000-12-31T23:59:59.999999Z',
      '0001-01-01T00:30:00+01:00',
      '9999-12-31T23:30:00-01:00',
    ]) {
      expect(parseMicros(out), out).toBeNull();
    }
    // Numbers and bigints order as the instants do.
    const a = parseMicros('2255-06-05T23:47:34.740991Z')!;
    const b = parseMicros('2255-06-05T23:47:34.740992Z')!;
    expect(a).toBe(Number.MAX_SAFE_INTEGER);
    expect(b).toBe(2n ** 53n);
    expect(a < b && b > a).toBe(true);
  });

  it('keeps a canonical text as it is, and formats every other spelling of the same instant', () => {
    const canonical = '2024-03-04T05:06:07.123456Z';
    expect(canonicalize(canonical)).toBe(canonical);
    for (const other of [
      '2024-03-04t05:06:07.123456Z',
      '2024-03-04 05:06:07.123456Z',
      '2024-03-04T05:06:07,123456Z',
      '2024-03-04T05:06:07.123456z',
      '2024-03-04T05:06:07.1234560Z',
      '2024-03-04T06:06:07.123456+01:00',
      '2024-03-04T07:06:07.123456+0200',
    ]) {
      expect(canonicalize(other), other).toBe(canonical);
    }
    // Random instants: the canonical text of each is its own canonical form.
    for (let k = 0; k < 2000; k++) {
      const text = formatMicros(Math.floor(Math.random() * 4_000_000_000_000_000));
      expect(canonicalize(text)).toBe(text);
    }
  });
});
