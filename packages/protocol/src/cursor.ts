/**
 * Timestamps and cursors.
 *
 * Everything the server stores or sends is a canonical timestamp: ISO-8601, UTC, exactly six
 * fractional digits (`2024-01-01T10:06:15.123456Z`). Canonical strings of years 0000-9999
 * sort lexicographically in time order, so comparing two of them is a string comparison.
 * Clients may send any ISO-8601 date-time (any fraction, `Z` or an offset); it is
 * normalized here. Digits past the microsecond are truncated, never rounded up, so a
 * cursor can never move past a record it has not seen.
 */

export type Canonical = string & { readonly __canonical: unique symbol };

/** The cursor meaning "from the beginning". */
export const EPOCH = '1970-01-01T00:00:00.000000Z' as Canonical;

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,12}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/**
 * Recently parsed timestamps. A batch repeats the same few timestamps many times (a client
 * stamps the fields it writes together alike), and parsing one costs about 1.5 µs; the
 * function is pure, so a bounded memo is safe. Cleared when full.
 */
const parsed = new Map<string, number | null>();
const PARSED_MAX = 4096;

/** Microseconds since the Unix epoch, or null when `input` is not an ISO-8601 date-time. */
export function parseMicros(input: string): number | null {
  // No date-time is longer than 38 characters: longer input is refused, and never kept.
  if (input.length > 40) return null;
  let micros = parsed.get(input);
  if (micros !== undefined) return micros;
  micros = parseUncached(input);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(input, micros);
  return micros;
}

function parseUncached(input: string): number | null {
  const m = ISO.exec(input);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = '', z, sign, oh = '0', om = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  if (Number(oh) > 23 || Number(om) > 59) return null;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  if (date.getUTCDate() !== day) return null; // 31 February and friends
  const offsetMinutes = z ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const micros = (date.getTime() - offsetMinutes * 60_000) * 1000 + Number(frac.padEnd(6, '0').slice(0, 6));
  if (micros < 0 || micros >= MAX_MICROS) return null;
  return micros;
}

/** 10000-01-01: canonical strings stop sorting correctly past year 9999. */
const MAX_MICROS = 253_402_300_800_000_000;

const DAY_MICROS = 86_400_000_000;
// The last day formatted ("YYYY-MM-DDT"): the time of day is plain arithmetic. Why not
// Date#toISOString for each value: V8 formats it through printf, about 7,000 instructions,
// and a server formats several timestamps a request (now, positions, clamped fields).
let lastDay = Number.NaN;
let lastDayPrefix = '';

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Canonical text of integer microseconds since the epoch, 0 to year 9999. */
export function formatMicros(micros: number): Canonical {
  const day = Math.floor(micros / DAY_MICROS);
  if (day !== lastDay) {
    lastDayPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    lastDay = day;
  }
  let rest = micros - day * DAY_MICROS;
  const h = Math.floor(rest / 3_600_000_000);
  rest -= h * 3_600_000_000;
  const m = Math.floor(rest / 60_000_000);
  rest -= m * 60_000_000;
  const sec = Math.floor(rest / 1_000_000);
  rest -= sec * 1_000_000;
  return `${lastDayPrefix}${pad(h, 2)}:${pad(m, 2)}:${pad(sec, 2)}.${pad(rest, 6)}Z` as Canonical;
}

/** Canonical form of any ISO-8601 date-time, or null when it is not one. */
export function canonicalize(input: string): Canonical | null {
  const micros = parseMicros(input);
  return micros === null ? null : formatMicros(micros);
}

export function isCanonical(input: string): input is Canonical {
  return canonicalize(input) === input;
}

/** Canonical timestamp of a JavaScript Date (millisecond precision). */
export function fromDate(date: Date): Canonical {
  return formatMicros(date.getTime() * 1000);
}

export function compareCanonical(a: Canonical, b: Canonical): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function maxCanonical(a: Canonical, b: Canonical): Canonical {
  return a >= b ? a : b;
}
