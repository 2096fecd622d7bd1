/**
 * Timestamps and cursors.
 *
 * Everything the server stores or sends is a canonical timestamp: ISO-8601, UTC, exactly six
 * fractional digits (`2024-01-01T10:06:15.123456Z`), from 0001-01-01T00:00:00.000000Z to
 * 9999-12-31T23:59:59.999999Z. Canonical strings of these years sort lexicographically in time
 * order, so comparing two of them is a string comparison.
 * Clients may send an ISO-8601 date-time (a fraction of 1 to 12 digits, `Z` or an offset;
 * the grammar is above parseUncached); it is normalized here. Digits past the microsecond are truncated, never rounded up, so a
 * cursor can never move past a record it has not seen.
 */

export type Canonical = string & { readonly __canonical: unique symbol };

/**
 * Microseconds since the Unix epoch: a number when it is a safe integer (within ±2^53 - 1:
 * years 1685 to 2255, every timestamp a server makes), a bigint beyond, so that no microsecond of 0001-9999 is lost.
 * The two compare with each other exactly (`<`, `>`); arithmetic needs one kind.
 */
export type Micros = number | bigint;

/** The cursor meaning "from the beginning". */
export const EPOCH = '1970-01-01T00:00:00.000000Z' as Canonical;

/**
 * Recently parsed timestamps. A batch repeats the same few timestamps many times (a client
 * stamps the fields it writes together alike); the function is pure, so a bounded memo is
 * safe. Cleared when full.
 */
const parsed = new Map<string, Micros | null>();
const PARSED_MAX = 4096;

/**
 * The last timestamp parsed, checked before the map: the fields of one change (or of a whole
 * batch) usually carry the same text, each a new string from JSON.parse, and comparing it
 * with the last one costs less than hashing it for the map.
 */
let lastInput = '';
let lastMicros: Micros | null = null;

/**
 * Microseconds since the Unix epoch, or null when `input` is not an ISO-8601 date-time of
 * 0001-01-01 to 9999-12-31 (in UTC). A bigint outside ±2^53 (see `Micros`).
 */
export function parseMicros(input: string): Micros | null {
  if (input === lastInput) return lastMicros;
  // No date-time is longer than 38 characters: longer input is refused, and never kept.
  if (input.length > 40) return null;
  let micros = parsed.get(input);
  if (micros === undefined) {
    micros = parseUncached(input);
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(input, micros);
  }
  lastInput = input;
  lastMicros = micros;
  return micros;
}

/**
 * The grammar, as a regular expression (test/cursor.test.ts checks the scanner against it):
 *   ^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,12}))?(?:[Zz]|[+-]\d{2}:?\d{2})$
 * Why a scanner: each push carries fresh timestamps (the client stamps every write), and the
 * regex with its captures, eight Number() conversions and a Date cost about 3,000
 * instructions a timestamp, 2 % of a small push's CPU; this costs about a third of that.
 */
function parseUncached(s: string): Micros | null {
  const n = s.length;
  if (n < 20) return null; // YYYY-MM-DDTHH:MM:SSZ
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  const t = s.charCodeAt(10);
  if (
    (year | month | day | hour | minute | second) < 0 ||
    s.charCodeAt(4) !== DASH ||
    s.charCodeAt(7) !== DASH ||
    (t !== 0x54 /* T */ && t !== 0x74 /* t */ && t !== 0x20) ||
    s.charCodeAt(13) !== COLON ||
    s.charCodeAt(16) !== COLON
  )
    return null;
  let i = 19;
  let fraction = 0; // microseconds: the first six digits, the rest truncated
  const mark = s.charCodeAt(i);
  if (mark === 0x2e /* . */ || mark === 0x2c /* , */) {
    const from = ++i;
    while (i < n && isDigit(s.charCodeAt(i))) {
      if (i - from < 6) fraction = fraction * 10 + (s.charCodeAt(i) - ZERO);
      i++;
    }
    const count = i - from;
    if (count < 1 || count > 12) return null;
    for (let k = count; k < 6; k++) fraction *= 10;
  }
  let offsetMinutes = 0;
  const zone = s.charCodeAt(i);
  if (zone === 0x5a /* Z */ || zone === 0x7a /* z */) {
    if (i + 1 !== n) return null;
  } else if (zone === 0x2b /* + */ || zone === 0x2d /* - */) {
    const oh = digits(s, i + 1, 2);
    let j = i + 3;
    if (s.charCodeAt(j) === COLON) j++;
    const om = digits(s, j, 2);
    if ((oh | om) < 0 || j + 2 !== n || oh > 23 || om > 59) return null;
    offsetMinutes = (zone === DASH ? -1 : 1) * (oh * 60 + om);
  } else {
    return null;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const ms =
    daysFromCivil(year, month, day) * 86_400_000 +
    hour * 3_600_000 +
    minute * 60_000 +
    second * 1000 -
    offsetMinutes * 60_000;
  // Exact as a number near now (the hot path); past ±2^53 µs, exact as a bigint.
  if (ms >= -SAFE_MS && ms <= SAFE_MS) return ms * 1000 + fraction;
  if (ms < MIN_MS || ms >= MAX_MS) return null;
  const micros = BigInt(ms) * 1000n + BigInt(fraction);
  return micros >= MIN_SAFE && micros <= MAX_SAFE ? Number(micros) : micros;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const ZERO = 0x30;
const DASH = 0x2d;
const COLON = 0x3a;

const isDigit = (c: number) => c >= ZERO && c <= 0x39;

/** The number written by `count` decimal digits at `at`, or -1 when they are not all digits. */
function digits(s: string, at: number, count: number): number {
  let v = 0;
  for (let k = at; k < at + count; k++) {
    const c = s.charCodeAt(k); // NaN past the end: not a digit
    if (!isDigit(c)) return -1;
    v = v * 10 + (c - ZERO);
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** 0001-01-01 in ms: PostgreSQL has no year 0, and canonical text has four digits of year. */
const MIN_MS = -62_135_596_800_000;
/** 10000-01-01 in ms: canonical strings stop sorting correctly past year 9999. */
const MAX_MS = 253_402_300_800_000;
/** Whole seconds (in ms) whose microseconds, fraction included, are a safe integer. */
const SAFE_MS = Math.floor((Number.MAX_SAFE_INTEGER - 999_999) / 1_000_000) * 1000;

// The last second formatted ("YYYY-MM-DDTHH:MM:SS."): a server formats many timestamps of
// the same second (a batch's positions, its clamped fields), so only the six fractional
// digits are new. Why not Date#toISOString each time: V8 formats it through printf, about
// 7,000 instructions, and padStart and String() per part cost more than the lookups below.
let lastSecond = Number.NaN;
let lastSecondPrefix = '';
/** "00" to "99". */
const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => (n < 10 ? `0${n}` : String(n)));

/** Canonical text of integer microseconds since the epoch, years 0001 to 9999. */
export function formatMicros(micros: Micros): Canonical {
  if (typeof micros === 'bigint') return formatBig(micros);
  const second = Math.floor(micros / 1_000_000);
  if (second !== lastSecond) setSecond(second);
  const fraction = micros - second * 1_000_000;
  const hi = Math.floor(fraction / 10_000);
  const mid = Math.floor((fraction - hi * 10_000) / 100);
  return `${lastSecondPrefix}${TWO_DIGITS[hi]}${TWO_DIGITS[mid]}${TWO_DIGITS[fraction - hi * 10_000 - mid * 100]}Z` as Canonical;
}

/** Far from now: the second (under 2^38) and the fraction are exact numbers again. */
function formatBig(micros: bigint): Canonical {
  let big = micros / 1_000_000n; // truncates toward zero
  if (big * 1_000_000n > micros) big -= 1n;
  const second = Number(big);
  const fraction = String(Number(micros - big * 1_000_000n)).padStart(6, '0');
  if (second !== lastSecond) setSecond(second);
  return `${lastSecondPrefix}${fraction}Z` as Canonical;
}

/** Makes `second` (since the epoch) the last second formatted. */
function setSecond(second: number): void {
  const day = Math.floor(second / 86_400);
  const inDay = second - day * 86_400;
  const h = Math.floor(inDay / 3600);
  const m = Math.floor((inDay - h * 3600) / 60);
  const date = new Date(day * 86_400_000).toISOString().slice(0, 11);
  lastSecondPrefix = `${date}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[inDay - h * 3600 - m * 60]}.`;
  lastSecond = second;
}

/**
 * The canonical text of a timestamp that parsed to `micros`: the input itself when it is
 * canonical already (what Mana clients send), else formatted. Parsed, a 27-character text
 * with `T`, `.` and `Z` in those places has exactly the canonical layout.
 */
export function canonicalText(input: string, micros: Micros): Canonical {
  const shaped =
    input.length === 27 &&
    input.charCodeAt(10) === 0x54 &&
    input.charCodeAt(19) === 0x2e &&
    input.charCodeAt(26) === 0x5a;
  return shaped ? (input as Canonical) : formatMicros(micros);
}

/** Canonical form of any ISO-8601 date-time, or null when it is not one. */
export function canonicalize(input: string): Canonical | null {
  const micros = parseMicros(input);
  return micros === null ? null : canonicalText(input, micros);
}

/**
 * A field timestamp as the server sends it: with milliseconds when the microseconds are zero
 * ("2024-01-01T10:05:00.123Z"), else canonical. Why: the Mana web app compares timestamps as
 * strings and writes its own with milliseconds; "…00.123000Z" sorts before "…00.123Z", so an
 * equal time would look older to it. Cursors stay canonical.
 */
export function wireTime(c: Canonical): string {
  return c.charCodeAt(23) === 0x30 && c.charCodeAt(24) === 0x30 && c.charCodeAt(25) === 0x30
    ? `${c.slice(0, 23)}Z`
    : c;
}
