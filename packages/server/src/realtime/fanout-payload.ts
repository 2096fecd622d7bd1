import { z } from 'zod';
import type { PushedEvent } from '../sync/pushed-event.js';

/**
 * The text of one NOTIFY between instances (JSON):
 *
 *   {"v":1,"src":"<instance id>","at":<ms>,"ev":[["<userId>","<appId>",["<table>",…],"<clientId>"],…]}
 *   {"v":1,"src":"<instance id>","at":<ms>,"resync":true}
 *
 * `src` lets an instance skip its own events (it delivered them locally already). `at` (epoch
 * milliseconds, optional) is when the batch's oldest event was published: the receiver's
 * fan-out delay metric starts there. Instances without it ignore it (unknown keys are dropped). PostgreSQL
 * refuses payloads of 8000 bytes or more, so a batch is split into as many payloads as it
 * needs, and one event with very many tables is split by table.
 */
export const MAX_PAYLOAD_BYTES = 7900;

const payloadSchema = z.object({
  v: z.literal(1),
  src: z.string(),
  at: z.number().finite().optional(),
  ev: z.array(z.tuple([z.string(), z.string(), z.array(z.string()), z.string()])).optional(),
  resync: z.literal(true).optional(),
});

interface DecodedPayload {
  src: string;
  /** Epoch ms when the batch's oldest event was published on `src` (absent from older senders). */
  sentAt: number | undefined;
  events: PushedEvent[];
  resync: boolean;
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export function encodeResync(src: string, at?: number): string {
  return JSON.stringify({ v: 1, src, at, resync: true });
}

/** Packs events into the fewest payloads of at most `maxBytes` each (greedy, in order). */
export function encodeEvents(
  src: string,
  events: PushedEvent[],
  maxBytes = MAX_PAYLOAD_BYTES,
  at?: number,
): string[] {
  const head = `{"v":1,"src":${JSON.stringify(src)},${at === undefined ? '' : `"at":${at},`}"ev":[`;
  const tail = ']}';
  const room = maxBytes - bytes(head) - bytes(tail);
  const payloads: string[] = [];
  let entries: string[] = [];
  let used = 0;
  const flush = () => {
    if (entries.length > 0) payloads.push(head + entries.join(',') + tail);
    entries = [];
    used = 0;
  };
  for (const entry of events.flatMap((e) => entriesOf(e, room))) {
    const size = bytes(entry) + (entries.length > 0 ? 1 : 0);
    if (used + size > room) flush();
    entries.push(entry);
    used += bytes(entry) + (entries.length > 1 ? 1 : 0);
  }
  flush();
  return payloads;
}

/** One event as JSON entries of at most `room` bytes each, splitting its tables when needed. */
function entriesOf(e: PushedEvent, room: number): string[] {
  const entry = (tables: string[]) => JSON.stringify([e.userId, e.appId, tables, e.clientId]);
  const whole = entry(e.tables);
  if (bytes(whole) <= room) return [whole];
  const fixed = bytes(entry([]));
  const out: string[] = [];
  let chunk: string[] = [];
  let used = fixed;
  for (const table of e.tables) {
    const size = bytes(JSON.stringify(table)) + (chunk.length > 0 ? 1 : 0);
    if (chunk.length > 0 && used + size > room) {
      out.push(entry(chunk));
      chunk = [];
      used = fixed;
    }
    used += bytes(JSON.stringify(table)) + (chunk.length > 0 ? 1 : 0);
    chunk.push(table);
  }
  if (chunk.length > 0) out.push(entry(chunk));
  return out;
}

/** Parses a payload; undefined when it is not one of ours (logged by the caller, never thrown). */
export function decodePayload(text: string): DecodedPayload | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = payloadSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const { src, at, ev = [], resync = false } = parsed.data;
  return {
    src,
    sentAt: at,
    resync,
    events: ev.map(([userId, appId, tables, clientId]) => ({ userId, appId, tables, clientId })),
  };
}
