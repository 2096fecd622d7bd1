import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { channelName, matchRoute } from '../../src/realtime/attach.js';
import {
  decodePayload,
  encodeEvents,
  encodeResync,
  MAX_PAYLOAD_BYTES,
} from '../../src/realtime/fanout-payload.js';
import type { PushedEvent } from '../../src/sync/pushed-event.js';

const id = (max: number) => fc.string({ minLength: 1, maxLength: max, unit: 'grapheme' });
const eventArb: fc.Arbitrary<PushedEvent> = fc.record({
  userId: id(256),
  appId: fc.stringMatching(/^[a-z][a-z0-9_-]{0,63}$/),
  tables: fc.uniqueArray(fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,127}$/), { minLength: 1, maxLength: 120 }),
  clientId: fc.stringMatching(/^[A-Za-z0-9_.:@+=~-]{1,128}$/),
});

/** Every (user, app, client, table) an event list names, as sortable keys. */
const facts = (events: PushedEvent[]) =>
  [
    ...new Set(
      events.flatMap((e) => e.tables.map((t) => JSON.stringify([e.userId, e.appId, e.clientId, t]))),
    ),
  ].sort();

describe('fan-out NOTIFY payloads', () => {
  it('fit in PostgreSQL’s payload limit and carry every table of every event, in order', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        const payloads = encodeEvents('instance-1', events);
        const decoded = payloads.map((p) => decodePayload(p)!);
        for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
        expect(decoded.every((d) => d.src === 'instance-1' && !d.resync)).toBe(true);
        const back = decoded.flatMap((d) => d.events);
        expect(facts(back)).toEqual(facts(events));
        // Order of first appearance per event is kept (users see notifications in push order).
        const firstSeen = (list: PushedEvent[]) => [
          ...new Set(list.map((e) => `${e.userId}\u0000${e.appId}`)),
        ];
        expect(firstSeen(back)).toEqual(firstSeen(events));
      }),
      { numRuns: 150 },
    );
  });

  it('packs small events into one payload and splits large ones', () => {
    const small = Array.from({ length: 20 }, (_, i) => ({
      userId: `u${i}`,
      appId: 'todo',
      tables: ['tasks'],
      clientId: 'c',
    }));
    expect(encodeEvents('s', small)).toHaveLength(1);
    const big = [
      { userId: 'u', appId: 'todo', tables: small.map((_, i) => `t${i}_${'x'.repeat(500)}`), clientId: 'c' },
    ];
    expect(encodeEvents('s', big).length).toBeGreaterThan(1);
    expect(encodeEvents('s', [])).toEqual([]);
  });

  it('carries when the batch began (`at`), within the size bound; a payload without it still decodes', () => {
    const at = Date.parse('2026-12-04T21:00:00.123Z');
    const events = Array.from({ length: 200 }, (_, i) => ({
      userId: `user-${i}`,
      appId: 'todo',
      tables: ['tasks', 'lists'],
      clientId: 'c',
    }));
    const payloads = encodeEvents('s', events, 2000, at);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) {
      expect(Buffer.byteLength(p)).toBeLessThanOrEqual(2000);
      expect(decodePayload(p)?.sentAt).toBe(at);
    }
    expect(payloads.flatMap((p) => decodePayload(p)!.events)).toHaveLength(events.length);
    expect(decodePayload(encodeResync('s', at))).toEqual({ src: 's', sentAt: at, resync: true, events: [] });
    expect(decodePayload('{"v":1,"src":"s","ev":[["u","a",["t"],"c"]]}')?.sentAt).toBeUndefined();
    expect(decodePayload('{"v":1,"src":"s","at":"soon","ev":[]}')).toBeUndefined();
  });

  it('encodes a resync and rejects anything that is not a payload', () => {
    expect(decodePayload(encodeResync('s'))).toEqual({ src: 's', resync: true, events: [] });
    expect(decodePayload('not json')).toBeUndefined();
    expect(decodePayload('{"v":2,"src":"s"}')).toBeUndefined();
    expect(decodePayload('{"v":1,"src":"s","ev":[["u","a","t","c"]]}')).toBeUndefined();
  });
});

describe('WebSocket routes and channel names', () => {
  it('matches /ws and /ws/{appId} only', () => {
    expect(matchRoute('/ws')).toEqual({ status: 101, appId: undefined });
    expect(matchRoute('/ws?x=1')).toEqual({ status: 101, appId: undefined });
    expect(matchRoute('/ws/todo')).toEqual({ status: 101, appId: 'todo' });
    expect(matchRoute('/ws/todo/')).toEqual({ status: 101, appId: 'todo' });
    expect(matchRoute('/ws/a/b')).toMatchObject({ status: 404 });
    expect(matchRoute('/wsx')).toMatchObject({ status: 404 });
    expect(matchRoute('/ws/%E0%A4%A')).toMatchObject({ status: 400 });
    expect(matchRoute('/ws/..')).toMatchObject({ status: 400 });
  });

  it('keeps channel names distinct per schema and within 63 bytes', () => {
    expect(channelName('mana_sync', undefined)).toBe('mana_sync');
    expect(channelName('mana_sync', 'test_ab12')).toBe('mana_sync_test_ab12');
    const long1 = channelName('mana_sync', `s_${'a'.repeat(60)}1`);
    const long2 = channelName('mana_sync', `s_${'a'.repeat(60)}2`);
    expect(Buffer.byteLength(long1)).toBeLessThanOrEqual(63);
    expect(long1).not.toBe(long2);
  });
});
