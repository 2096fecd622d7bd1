/**
 * The web app's Server-Sent Events reader for `GET /sync/{appId}/stream`, as its engine has
 * it: the buffer is split on "\n\n"; within a block a line starting 'event: ' sets the type
 * and one starting 'data: ' sets the data (the last one wins, so data must be ONE line).
 * Only `changes` blocks with data are used; heartbeats and anything else are ignored.
 */

export interface SseEvent {
  type: string;
  data: string;
}

/** Splits what arrived so far into complete blocks and the incomplete rest. */
export function parseSseBlocks(buffer: string): { events: SseEvent[]; rest: string } {
  const parts = buffer.split('\n\n');
  const rest = parts.pop() ?? '';
  const events: SseEvent[] = [];
  for (const block of parts) {
    let type = '';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) type = line.slice(7);
      else if (line.startsWith('data: ')) data = line.slice(6);
    }
    events.push({ type, data });
  }
  return { events, rest };
}

/** A `changes` block's payload. */
export interface ChangesBlock {
  table?: string;
  changes?: unknown;
  syncedUntil?: string;
  hasMore?: boolean;
}

export interface StreamHandlers {
  onChanges(block: ChangesBlock): void;
  /** The data of a `changes` block was not JSON: the web app's parse would throw on it. */
  onUnreadable(data: string, error: unknown): void;
  onOther(type: string): void;
}

/** Reads a stream body to its end, handing every complete block to `handlers`. */
export async function readSse(body: ReadableStream<Uint8Array>, handlers: StreamHandlers): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const { events, rest } = parseSseBlocks(buffer);
    buffer = rest;
    for (const e of events) {
      if (e.type !== 'changes' || !e.data) {
        handlers.onOther(e.type);
        continue;
      }
      let parsed: ChangesBlock;
      try {
        parsed = JSON.parse(e.data) as ChangesBlock;
      } catch (err) {
        handlers.onUnreadable(e.data, err);
        continue;
      }
      handlers.onChanges(parsed);
    }
  }
}
