import type { ServerChange } from '@mana/sync-protocol';
import { describe, expect, it } from 'vitest';
import { pageChunks, placeholder, type RawChange, spliceRaw, splitRaw } from '../../src/store/raw-change.js';

const small: ServerChange = {
  table: 't',
  id: 'a',
  op: 'update',
  fields: { n: { value: 1, updatedAt: '2024-01-01T00:00:00.000Z' } },
  updatedAt: '2024-01-01T00:00:00.000Z',
  eventId: 'e1',
};

/** A change whose `big` field was read as the database's text (bytes, as postgres.js gives it). */
function rawChange(text: string): RawChange {
  const joined = Buffer.from(`${text}\u0001[1, "\u00e9"]`);
  const [big, list] = splitRaw(joined);
  return spliceRaw(
    {
      ...small,
      id: 'b',
      fields: {
        big: { value: placeholder(0), updatedAt: '2024-01-01T00:00:00.000Z' },
        list: { value: placeholder(1), updatedAt: '2024-01-01T00:00:00.000Z', actor: { who: 'ai' } },
      },
    },
    [big!, list!],
  );
}

describe('raw changes (large records)', () => {
  it('splits joined values at U+0001 only, multi-byte characters intact, as views of the bytes', () => {
    const joined = Buffer.from('"ü😀"\u0001{"a": 1}\u0001"x"');
    const parts = splitRaw(joined);
    expect(parts.map((p) => Buffer.from(p).toString())).toEqual(['"ü😀"', '{"a": 1}', '"x"']);
    expect((parts[0] as Uint8Array).buffer).toBe(joined.buffer);
    expect(splitRaw('"a"\u0001"b"')).toEqual(['"a"', '"b"']);
  });

  it("writes a page's JSON in pieces that parse to what the changes hold, a large value as its own piece", () => {
    const text = JSON.stringify(`"é\n\\${'x'.repeat(100_000)}`);
    const raw = rawChange(text);
    const body = { serverChanges: [small, raw, small], syncedUntil: 's', hasMore: true };
    const chunks = pageChunks(body);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.some((c) => c instanceof Uint8Array && c.byteLength === Buffer.byteLength(text))).toBe(
      true,
    );
    const joined = Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))).toString();
    const parsed = JSON.parse(joined) as typeof body;
    expect(Object.keys(parsed)).toEqual(['serverChanges', 'syncedUntil', 'hasMore']);
    expect(parsed.serverChanges[0]).toEqual(small);
    expect(parsed.serverChanges[1]!.fields.big!.value).toBe(JSON.parse(text));
    expect(parsed.serverChanges[1]!.fields.list).toEqual({
      value: [1, 'é'],
      updatedAt: '2024-01-01T00:00:00.000Z',
      actor: { who: 'ai' },
    });
    // Read or serialized whole, a raw change is the change it stands for.
    expect(JSON.parse(JSON.stringify(body))).toEqual(parsed);
    expect(raw.id).toBe('b');
    expect(raw.fields.big!.value).toBe(JSON.parse(text));
  });

  it('leaves a page of small records to one JSON.stringify', () => {
    const body = { serverChanges: [small], conflicts: [], syncedUntil: 's', hasMore: false };
    expect(pageChunks(body)).toEqual([JSON.stringify(body)]);
  });
});
