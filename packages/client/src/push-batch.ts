import {
  type Canonical,
  type Change,
  canonicalize,
  decodeValue,
  EPOCH,
  type PushResponse,
} from '@mana/sync-protocol';
import { type ApplyContext, applyServerChanges } from './apply.js';
import { readCursors } from './cursors.js';
import { setAside } from './held-back.js';
import { coalesce, recordKey } from './outbox.js';
import { ADOPTION_TIMESTAMP, type OutboxRow, type StateRow, stateKey } from './schema.js';
import type { ConflictEvent, RefusedChange } from './status.js';
import { type Transport, TransportError } from './transport.js';

/** What pushing one batch needs from the sync loop (engine.ts). */
export interface PushContext extends ApplyContext {
  tableList: readonly string[];
  user: () => string;
  transport: Transport;
  pushBatchSize: number;
  onConflict(c: ConflictEvent): void;
  /** A change the server refused for good was set aside (held-back.ts). */
  onRefused(c: RefusedChange): void;
  /** The outbox lost rows (acknowledged, set aside): recount `pending`. */
  onOutboxChanged(): Promise<void>;
  /** The server acknowledged a push (the stall check's clock). */
  onAcknowledged(): void;
}

/** What a push reads from and writes to the pass it belongs to (engine.ts). */
export interface PushPass {
  readonly controller: AbortController;
  /** This device's id for the pass (client-id.ts): the server's echo key. */
  clientId: string;
  /**
   * Cursors read at the start of the pass, until the pass moves one: a push's answer moves
   * them all, a pulled table its own.
   */
  known: Map<string, Canonical> | null;
  /**
   * `pending` is owed a recount: a full batch was acknowledged, or the outbox changed while
   * pushing (see applyPushResponse and the engine's `noteOutboxChanged`).
   */
  recountOwed: boolean;
}

/**
 * Pushes rows; returns the answer's hasMore. A push the server refuses for good names the
 * change at fault (`changes.N…`), which is set aside and the rest pushed again; a refusal
 * naming none (413) is narrowed down by halves to the change at fault. So one bad change
 * never holds back the queue behind it.
 */
export async function pushBatch(o: PushContext, p: PushPass, rows: OutboxRow[]): Promise<boolean> {
  const changes = coalesce(rows);
  const known = p.known;
  const cursors =
    known && known.size === o.tableList.length
      ? o.tableList.map((t) => known.get(t)!)
      : await readCursors(o.db, o.user(), o.tableList); // one read for all tables, not a transaction each
  // The response holds every record after `since`, so every table is caught up to its
  // syncedUntil once it is applied: since = the oldest cursor keeps that true for all.
  const since = [...cursors].sort()[0] ?? EPOCH;
  try {
    const res = await o.transport.push({ clientId: p.clientId, since, changes }, p.controller.signal);
    await applyPushResponse(o, p, rows, cursors, res);
    o.onAcknowledged();
    return res.hasMore;
  } catch (err) {
    const fault = refusal(err);
    if (fault === null) throw err;
    const groups = byRecord(rows, changes);
    let index = fault.index;
    if (index === undefined || index >= changes.length) index = changes.length === 1 ? 0 : undefined;
    if (index !== undefined) {
      await refuse(o, changes[index]!, groups[index]!, err as TransportError);
      const rest = groups.flatMap((g, i) => (i === index ? [] : g)).sort((a, b) => a.seq! - b.seq!);
      return rest.length > 0 ? pushBatch(o, p, rest) : false;
    }
    const half = Math.ceil(groups.length / 2);
    const first = await pushBatch(o, p, groups.slice(0, half).flat());
    const second = await pushBatch(o, p, groups.slice(half).flat());
    return first || second;
  }
}

async function refuse(o: PushContext, change: Change, rows: OutboxRow[], err: TransportError) {
  const refused = await setAside(o.db, change, rows, { code: err.code, message: err.message });
  await o.onOutboxChanged();
  o.onRefused(refused);
}

async function applyPushResponse(
  o: PushContext,
  p: PushPass,
  rows: OutboxRow[],
  cursors: Canonical[],
  res: PushResponse,
) {
  const until = (canonicalize(res.syncedUntil) ?? res.syncedUntil) as Canonical;
  p.known = null;
  const moved: StateRow[] = [];
  o.tableList.forEach((table, i) => {
    if (until > cursors[i]!) moved.push({ key: stateKey.cursor(o.user(), table), value: until });
  });
  const sent = new Set(rows.map((r) => recordKey(r.table, r.id)));
  const conflicts = res.conflicts.filter((c) => sent.has(recordKey(c.table, c.id)));
  const overwritten = await applyServerChanges(o, {
    changes: res.serverChanges,
    conflicts,
    acknowledged: rows.map((r) => r.seq!),
    acknowledgedRows: rows,
    state: moved,
  });
  // Counting the outbox walks all of it: while a backlog drains batch by batch, `pending` is
  // recounted when the drain ends (a short batch, or an empty outbox), not after every push.
  if (rows.length < o.pushBatchSize) {
    p.recountOwed = false;
    await o.onOutboxChanged();
  } else p.recountOwed = true;
  for (const c of overwritten) o.onConflict(c);
  for (const c of conflicts) {
    // Servers write these with 3 or 6 fractional digits: the app sees one form.
    const clientUpdatedAt = canonicalize(c.clientUpdatedAt) ?? c.clientUpdatedAt;
    const serverUpdatedAt = canonicalize(c.serverUpdatedAt) ?? c.serverUpdatedAt;
    // Records that existed before sync was attached merge under the server's data by design.
    if (clientUpdatedAt === ADOPTION_TIMESTAMP) continue;
    // The app sees its own kind of values (a Date, a Map…), not their wire encoding.
    const { clientType, serverType, ...rest } = c;
    const clientValue = decodeValue(c.clientValue, clientType);
    const serverValue = decodeValue(c.serverValue, serverType);
    o.onConflict({
      ...rest,
      clientValue,
      serverValue,
      clientUpdatedAt,
      serverUpdatedAt,
      localValue: clientValue,
    });
  }
}

/**
 * A push refused for good because of its content: 4xx other than 401/408/429 (those are
 * retried or re-authenticated in transport.ts), naming a change or no part at all. A refusal
 * naming another part of the request (`clientId`, `schemaVersion`) or no route (404, 405: a
 * wrong url) is the request's fault, not a change's: status error as before.
 */
function refusal(err: unknown): { index?: number } | null {
  if (!(err instanceof TransportError) || err.kind !== 'rejected') return null;
  if (err.code === 'NOT_FOUND' || err.code === 'METHOD_NOT_ALLOWED') return null;
  if (err.path === undefined) return {};
  const m = /^changes\.(\d+)(?:\.|$)/.exec(err.path);
  return m ? { index: Number(m[1]) } : null;
}

/** The outbox rows of each change, in the order of `coalesce`'s changes (first row of each record). */
function byRecord(rows: readonly OutboxRow[], changes: readonly Change[]): OutboxRow[][] {
  const groups = new Map<string, OutboxRow[]>(changes.map((c) => [recordKey(c.table, c.id), []]));
  for (const row of rows) groups.get(recordKey(row.table, row.id))!.push(row);
  return [...groups.values()];
}
