import { type Canonical, SSE_EVENT, type StreamChanges } from '@mana/sync-protocol';
import { type PullResult, pageChunks } from './page.js';
import type { PushedEvent, PushedListener } from './pushed-event.js';

/** setTimeout's longest delay; token lifetimes past it are waited out in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** An ended stream whose reader does not take its last bytes within this long is cut. */
const STALLED_END_MS = 5000;

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(`event: ${SSE_EVENT.heartbeat}\ndata: {}\n\n`);

/** Why a stream ended (logged). */
export type EndReason = 'client-gone' | 'token-expired' | 'shutdown' | 'store-failed';

export interface SseStreamOptions {
  appId: string;
  /** The caller's X-Client-Id: its own pushes wake nothing. */
  clientId: string | undefined;
  /** The tables followed (distinct), each starting at `since`. */
  tables: readonly string[];
  since: Canonical;
  /** Token expiry in seconds since the epoch; undefined: never (service key). */
  expiresAt: number | undefined;
  heartbeatMs: number;
  /** One page of `table` after its cursor: the store's pull for this stream's caller. */
  pull(table: string, since: Canonical): Promise<PullResult>;
  /** Pushed events of this stream's user (PushedEvents.subscribe); returns the unsubscribe. */
  subscribe(listener: PushedListener): () => void;
  /** A `changes` block of `changes` server changes was handed to the connection. */
  onBlock(changes: number): void;
  /** Once, when the stream ends; `err` when the store failed. */
  onEnd(reason: EndReason, err?: unknown): void;
  /** Cuts the connection (used when a stalled reader keeps an ended stream open). */
  abort?: () => void;
}

/**
 * One `GET /sync/{appId}/stream`: a Server-Sent Events body that pages each followed table
 * from its own cursor, first all of them (the catch-up), then the tables a pushed event names.
 *
 *   pushed event / resync ──► dirty tables ─┐
 *   heartbeat timer ─────────► heartbeat due ┼─► produce() ──► one block ──► the connection
 *   expiry / shutdown / gone ─► ended ───────┘   (only when the connection asks for more)
 *
 * The body is pulled, never pushed: the HTTP layer asks for the next block only once the
 * previous one went into the socket without filling its buffer (or after 'drain'), and a
 * block is made only when asked for. So one catch-up runs at a time per stream, a slow reader
 * holds at most about one page, and events that arrive meanwhile only mark tables dirty
 * (coalesced: a table is pulled once from its cursor however many pushes named it).
 *
 * Each block's `syncedUntil` is the pull's for that table, so it is safe as that table's
 * cursor: a client that reconnects with the cursors it got misses nothing.
 */
export class SseStream {
  readonly body: ReadableStream<Uint8Array>;
  private readonly cursors = new Map<string, Canonical>();
  /** Tables to pull from their cursors; insertion order is pull order. */
  private readonly dirty = new Set<string>();
  /** The table being paged (its last page said hasMore): finished before the next one. */
  private current: string | undefined;
  private heartbeatDue = false;
  private ended: EndReason | undefined;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SseStreamOptions) {
    for (const table of opts.tables) {
      this.cursors.set(table, opts.since);
      this.dirty.add(table);
    }
    // Subscribed before the catch-up reads anything: a push that commits from now on either
    // is in the catch-up's pages or marks its table dirty again.
    this.unsubscribe = opts.subscribe({
      event: (event) => this.onPushed(event),
      resync: () => this.markDirty(opts.tables),
    });
    this.heartbeat = setInterval(() => {
      this.heartbeatDue = true;
      this.poke();
    }, opts.heartbeatMs);
    this.heartbeat.unref();
    this.armExpiry(opts.expiresAt);
    this.body = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.produce(controller),
        cancel: () => this.end('client-gone'),
      },
      // 0: nothing is made ahead of the reader's request.
      { highWaterMark: 0 },
    );
  }

  /** Ends the stream: what was handed to the connection still goes out, then it closes. */
  end(reason: EndReason, err?: unknown): void {
    if (this.ended) return;
    this.ended = reason;
    clearInterval(this.heartbeat);
    clearTimeout(this.expiryTimer);
    this.unsubscribe();
    this.opts.onEnd(reason, err);
    this.poke();
    const abort = this.opts.abort;
    if (abort && reason !== 'client-gone') setTimeout(abort, STALLED_END_MS).unref();
  }

  private onPushed(event: PushedEvent): void {
    if (event.appId !== this.opts.appId) return;
    if (this.opts.clientId !== undefined && event.clientId === this.opts.clientId) return; // its own push
    this.markDirty(event.tables);
  }

  private markDirty(tables: readonly string[]): void {
    if (this.ended) return;
    let any = false;
    for (const table of tables) {
      if (!this.cursors.has(table)) continue;
      this.dirty.add(table);
      any = true;
    }
    if (any) this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next block, when the connection asks for one (never throws: an error would cut it). */
  private async produce(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      if (this.ended) {
        closeQuietly(controller);
        return;
      }
      if (this.heartbeatDue) {
        this.heartbeatDue = false;
        controller.enqueue(HEARTBEAT);
        return;
      }
      const table = this.current ?? first(this.dirty);
      if (table === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      // Taken out before the pull: an event that arrives during it marks the table again.
      this.dirty.delete(table);
      const since = this.cursors.get(table)!;
      let page: PullResult;
      try {
        page = await this.opts.pull(table, since);
      } catch (err) {
        this.current = undefined;
        this.end('store-failed', err); // the client reconnects and carries on from its cursors
        continue;
      }
      if (this.ended) continue;
      this.current = page.hasMore ? table : undefined;
      this.cursors.set(table, page.syncedUntil);
      // A page whose records were all left out (the caller's own) still moves the cursor.
      if (page.serverChanges.length === 0 && page.syncedUntil === since) continue;
      for (const block of changesBlock(table, page)) controller.enqueue(block);
      this.opts.onBlock(page.serverChanges.length);
      return;
    }
  }

  /**
   * Ends the stream when the token expires: the client reconnects with a fresh one. Always by
   * a timer, never from the constructor, so the owner has registered the stream before it ends.
   */
  private armExpiry(expiresAt: number | undefined): void {
    if (expiresAt === undefined) return;
    const left = expiresAt * 1000 - Date.now();
    const wait = Math.max(0, Math.min(left, MAX_TIMER_MS));
    this.expiryTimer = setTimeout(
      () => (left > MAX_TIMER_MS ? this.armExpiry(expiresAt) : this.end('token-expired')),
      wait,
    );
    this.expiryTimer.unref();
  }
}

/**
 * `event: changes` with the page as JSON on one line (JSON.stringify escapes every newline, and
 * so does jsonb's text of a large record's raw values), in pieces (pageChunks): one for a page
 * of small records.
 */
export function changesBlock(table: string, page: PullResult): Uint8Array[] {
  const data: StreamChanges = {
    table,
    changes: page.serverChanges,
    syncedUntil: page.syncedUntil,
    hasMore: page.hasMore,
  };
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

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}

function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // Already closed or cancelled (the reader went away).
  }
}
