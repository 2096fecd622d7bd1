import type { ServerResponse } from 'node:http';
import type { ServerChange } from '@mana/sync-protocol';
import { type Piece, pageChunks } from '../sync/page.js';

/**
 * The body of an answer holding a page (a pull's, a push's): its JSON pieces (pageChunks) and
 * their length in bytes. A page of small records is one piece, as JSON.stringify made it; one
 * with a large record is written piece by piece, each encoded only when the socket takes it,
 * so the page's text never exists whole, nor twice (issue 20).
 */
export interface PageBody {
  chunks: Piece[];
  bytes: number;
}

export function pageBody(body: { serverChanges: readonly ServerChange[] }): PageBody {
  const chunks = pageChunks(body);
  let bytes = 0;
  for (const c of chunks) bytes += Buffer.byteLength(c);
  return { chunks, bytes };
}

/** The pieces as a stream (Hono's answer body), each let go once sent. */
export function pageStream({ chunks }: PageBody): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (i === chunks.length) return controller.close();
        const chunk = chunks[i]!;
        controller.enqueue(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        chunks[i++] = '';
      },
    },
    { highWaterMark: 0 },
  );
}

/** Writes the pieces to `res` and ends it, waiting for the socket to drain between them. */
export async function writePage(res: ServerResponse, { chunks }: PageBody): Promise<void> {
  for (let i = 0; i < chunks.length - 1; i++) {
    if (res.destroyed) return;
    const more = res.write(chunks[i]!);
    chunks[i] = '';
    if (!more) await drained(res);
  }
  if (!res.destroyed) res.end(chunks[chunks.length - 1]);
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
