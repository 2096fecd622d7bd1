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

  it('parses exactly what the grammar (as a regular expression) accepts, to the same instant', () => {
    // The definition the scanner in cursor.ts implements, through Date: the reference.
    const ISO =
      /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,12}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;
    const reference = (input: string): number | null => {
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
      const micros = (date.getTime() - offset * 60_000) * 1000 + Number(frac.padEnd(6, '0').slice(0, 6));
      return micros < 0 || micros >= 253_402_300_800_000_000 ? null : micros;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    const num = (max: number, width: number) => String(Math.floor(Math.random() * max)).padStart(width, '0');
    // Mostly well-formed, with the edges of each part among the choices.
    const part = (lo: number, hi: number, width: number, edges: string[]) =>
      Math.random() < 0.9
        ? String(lo + Math.floor(Math.random() * (hi - lo + 1))).padStart(width, '0')
        : pick(edges);
    const generated = () =>
      `${part(1970, 2400, 4, ['1969', '1900', '9999', '0000', '10000'])}-${part(1, 12, 2, ['00', '13'])}-` +
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
