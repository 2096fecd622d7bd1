import { type Canonical, SSE_EVENT, type StreamChanges } from '@mana/sync-protocol';
import type { PullResult } from './page.js';
import type { PushedEvent, PushedListener } from './pushed-event.js';

/** setTimeout's longest delay; token lifetimes past it are waited out in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Why a stream ended (logged). */
export type EndReason = 'client-gone' | 'token-expired' | 'shutdown' | 'store-failed';

/**
 * One event of a stream, as data: the transport frames it (http/sse.ts). A `changes` event's
 * records may be RawChange (large records, written piece by piece: pageChunks).
 */
export type StreamEvent =
  | { event: typeof SSE_EVENT.changes; data: StreamChanges }
  | { event: typeof SSE_EVENT.heartbeat };

interface StreamFeedOptions {
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
  /** A `changes` event of `changes` server changes was handed to the transport. */
  onBlock(changes: number): void;
  /** Once, when the stream ends; `err` when the store failed. */
  onEnd(reason: EndReason, err?: unknown): void;
}

/**
 * One `GET /sync/{appId}/stream`, as events: pages each followed table from its own cursor,
 * first all of them (the catch-up), then the tables a pushed event names; a heartbeat every
 * `heartbeatMs`. The transport frames each event (http/sse.ts writes Server-Sent Events).
 *
 *   pushed event / resync ──► dirty tables ─┐
 *   heartbeat timer ─────────► heartbeat due ┼─► next() ──► one event ──► the transport
 *   expiry / shutdown / gone ─► ended ───────┘   (only when the transport asks for more)
 *
 * Events are pulled, never pushed: the HTTP layer asks for the next one only once the
 * previous one went into the socket without filling its buffer (or after 'drain'), and an
 * event is made only when asked for. So one catch-up runs at a time per stream, a slow reader
 * holds at most about one page, and events that arrive meanwhile only mark tables dirty
 * (coalesced: a table is pulled once from its cursor however many pushes named it).
 *
 * Each block's `syncedUntil` is the pull's for that table, so it is safe as that table's
 * cursor: a client that reconnects with the cursors it got misses nothing.
 */
export class StreamFeed {
  /** Settles with the reason when the stream ends (the transport cuts a stalled reader). */
  readonly closed: Promise<EndReason>;
  private closedWith!: (reason: EndReason) => void;
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

  constructor(private readonly opts: StreamFeedOptions) {
    this.closed = new Promise((resolve) => {
      this.closedWith = resolve;
    });
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
  }

  /** Ends the stream: what was handed to the transport still goes out, then it closes. */
  end(reason: EndReason, err?: unknown): void {
    if (this.ended) return;
    this.ended = reason;
    clearInterval(this.heartbeat);
    clearTimeout(this.expiryTimer);
    this.unsubscribe();
    this.opts.onEnd(reason, err);
    this.closedWith(reason);
    this.poke();
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

  /**
   * The next event, when the transport asks for one; undefined once the stream ended (never
   * throws: an error would cut the connection).
   */
  async next(): Promise<StreamEvent | undefined> {
    for (;;) {
      if (this.ended) return undefined;
      if (this.heartbeatDue) {
        this.heartbeatDue = false;
        return { event: SSE_EVENT.heartbeat };
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
      const data: StreamChanges = {
        table,
        changes: page.serverChanges,
        syncedUntil: page.syncedUntil,
        hasMore: page.hasMore,
      };
      this.opts.onBlock(page.serverChanges.length);
      return { event: SSE_EVENT.changes, data };
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

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}
