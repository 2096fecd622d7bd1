/** JSON helpers for the proof suites (independent of the protocol's jsonEqual). */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A key-order-independent string for a JSON value: jsonb does not keep key order, so two
 * objects with the same entries are the same value. Own `__proto__` keys are kept as data.
 */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const keys = Object.keys(v).sort();
  const o = v as Record<string, unknown>;
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(Object.getOwnPropertyDescriptor(o, k)?.value)}`).join(',')}}`;
}

export const sameJson = (a: unknown, b: unknown): boolean => stableJson(a) === stableJson(b);
