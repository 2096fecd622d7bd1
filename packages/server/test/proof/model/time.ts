/**
 * Timestamps for the proof suites, written independently of @mana/sync-protocol's cursor.ts:
 * the model keeps integer microseconds and renders them in the several ISO-8601 spellings a
 * client may send; it parses only the forms the server must answer with: canonical (six
 * fractional digits) for cursors, the wire form (`wire`) for field timestamps.
 */

export type Micros = number;

/** How a client spells a timestamp on the wire. All denote the same microsecond. */
export type TimeFormat = 'canonical' | 'millis' | 'nanos' | 'offset' | 'seconds' | 'lowercase';

const CANONICAL = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})Z$/;

function isoMillis(ms: number): string {
  return new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
}

export function canonical(us: Micros): string {
  const ms = Math.floor(us / 1000);
  return `${isoMillis(ms).slice(0, 23)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

export function render(us: Micros, format: TimeFormat): string {
  const c = canonical(us);
  switch (format) {
    case 'canonical':
      return c;
    case 'millis':
      return us % 1000 === 0 ? isoMillis(us / 1000) : c;
    case 'seconds':
      return us % 1_000_000 === 0 ? `${c.slice(0, 19)}Z` : c;
    case 'nanos':
      // Digits past the microsecond are truncated by the server, never rounded.
      return `${c.slice(0, 26)}987Z`;
    case 'lowercase':
      return `${c.slice(0, 10)}t${c.slice(11, 26)}z`;
    case 'offset': {
      // The same instant written in UTC+02:30.
      const shifted = canonical(us + 9_000_000_000);
      return `${shifted.slice(0, 26)}+02:30`;
    }
  }
}

/** Microseconds of a canonical server timestamp; throws on anything else. */
export function parseCanonical(s: unknown): Micros {
  if (typeof s !== 'string') throw new Error(`timestamp is not a string: ${JSON.stringify(s)}`);
  const m = CANONICAL.exec(s);
  if (!m) throw new Error(`timestamp is not canonical: ${s}`);
  const ms = Date.parse(`${s.slice(0, 23)}Z`);
  if (Number.isNaN(ms)) throw new Error(`timestamp is not a date: ${s}`);
  return ms * 1000 + Number(s.slice(23, 26));
}

/**
 * A field timestamp as the server must send it (DESIGN.md section 12): milliseconds when the
 * microsecond part is zero ("…00.123Z"), else canonical ("…00.123456Z").
 */
export function wire(us: Micros): string {
  const c = canonical(us);
  return us % 1000 === 0 ? `${c.slice(0, 23)}Z` : c;
}

const MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Microseconds of a field timestamp in the wire form; throws on anything else. */
export function parseWire(s: unknown): Micros {
  if (typeof s !== 'string') throw new Error(`timestamp is not a string: ${JSON.stringify(s)}`);
  const us = MILLIS.test(s) ? parseCanonical(`${s.slice(0, 23)}000Z`) : parseCanonical(s);
  if (wire(us) !== s) throw new Error(`field timestamp is not in the wire form ${wire(us)}: ${s}`);
  return us;
}
