import { SSE_EVENT, type StreamChanges } from '@mana/sync-protocol';
import { pageChunks } from '../sync/page.js';
import type { StreamEvent, StreamFeed } from '../sync/stream-feed.js';

/** An ended stream whose reader does not take its last bytes within this long is cut. */
const STALLED_END_MS = 5000;

/**
 * The headers of a stream: no caching, and no buffering by a proxy (nginx reads
 * X-Accel-Buffering). `Connection: close`: a stream holds its connection for its whole life,
 * and when it ends (shutdown, token expiry) the connection goes with it instead of idling as
 * keep-alive, which would hold a shutting-down server open; the client reconnects anyway.
 */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
  Connection: 'close',
};

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(`event: ${SSE_EVENT.heartbeat}\ndata: {}\n\n`);

/**
 * A stream's events as a Server-Sent Events body. Pulled, never pushed: the next event is
 * asked of the feed only when the reader asks for more (Hono's writer reads once the socket
 * took the last block, or after 'drain'), so nothing is made ahead of a slow reader.
 * `abort` cuts the connection when the stream ended but its reader does not take the rest.
 */
export function sseBody(feed: StreamFeed, abort: (() => void) | undefined): ReadableStream<Uint8Array> {
  if (abort)
    void feed.closed.then((reason) => {
      if (reason !== 'client-gone') setTimeout(abort, STALLED_END_MS).unref();
    });
  return new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        const next = await feed.next();
        if (next === undefined) return closeQuietly(controller);
        for (const block of sseBlock(next)) controller.enqueue(block);
      },
      cancel: () => feed.end('client-gone'),
    },
    // 0: nothing is made ahead of the reader's request.
    { highWaterMark: 0 },
  );
}

/** One event's bytes: `event:` and `data:` lines, then the blank line that ends it. */
function sseBlock(next: StreamEvent): Uint8Array[] {
  return next.event === SSE_EVENT.heartbeat ? [HEARTBEAT] : changesBlock(next.data);
}

/**
 * `event: changes` with the page as JSON on one line (JSON.stringify escapes every newline, and
 * so does jsonb's text of a large record's raw values), in pieces (pageChunks): one for a page
 * of small records.
 */
function changesBlock(data: StreamChanges): Uint8Array[] {
  const chunks = pageChunks(data, 'changes');
  // The first piece and the last are text (the JSON's braces); bytes go out as they are.
  return chunks.map((chunk, i) =>
    typeof chunk !== 'string'
      ? chunk
      : encoder.encode(
          `${i === 0 ? `event: ${SSE_EVENT.changes}\ndata: ` : ''}${chunk}${i === chunks.length - 1 ? '\n\n' : ''}`,
        ),
  );
}

function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // Already closed or cancelled (the reader went away).
  }
}
