import type { TestServer } from '../../helpers/test-server.js';
import { DATA_FIELD, type History, type Op, TABLES } from './history.js';
import { sameJson } from './json.js';
import {
  conflictLines,
  DELETED_AT,
  deleteWrites,
  type FieldWrite,
  LwwModel,
  type ModelChange,
  type ModelState,
  recordKey,
  stateLines,
} from './lww-model.js';
import { type Micros, parseCanonical, render } from './time.js';

/**
 * Runs one history against a real server: N simulated clients of one user edit offline,
 * push (sometimes losing the response after the server committed, then retrying), pull in
 * pages, and finally sync up. Throws, naming the difference, when any client, the server
 * and the reference model disagree, or when a response breaks a protocol invariant.
 *
 * A client's state is what the server last sent it for each record; its own unpushed
 * edits sit in its outbox until a push is acknowledged.
 */

interface WireField {
  value: unknown;
  updatedAt: string;
}
interface WireServerChange {
  table: string;
  id: string;
  op: string;
  fields: Record<string, WireField>;
  deletedAt?: string | null;
  updatedAt: string;
}

export interface Tally {
  histories: number;
  pushes: number;
  lostResponses: number;
  pulls: number;
  changesPushed: number;
  conflictsChecked: number;
  fieldsCompared: number;
  lost: number;
}

export const newTally = (): Tally => ({
  histories: 0,
  pushes: 0,
  lostResponses: 0,
  pulls: 0,
  changesPushed: 0,
  conflictsChecked: 0,
  fieldsCompared: 0,
  lost: 0,
});

class SimClient {
  online = true;
  outbox: Array<{ wire: Record<string, unknown>; model: ModelChange }> = [];
  /** Last state the server sent for each record. */
  known = new Map<string, WireServerChange>();
  pushCursor: string | undefined;
  pullCursors = new Map<string, string>();
  constructor(readonly clientId: string) {}
}

export class Simulation {
  private readonly model = new LwwModel();
  private readonly clients: SimClient[];
  private readonly appId = 'todo';

  constructor(
    private readonly ts: TestServer,
    private readonly userId: string,
    private readonly history: History,
    /** Base time of tick 0, microseconds. */
    private readonly base: Micros,
    private readonly tally: Tally,
  ) {
    this.clients = Array.from({ length: history.clients }, (_, i) => new SimClient(`client-${i}`));
  }

  async run(): Promise<void> {
    for (const op of this.history.ops) await this.step(op);
    // Everyone comes back online and syncs: push what is left, then pull every table to the end.
    for (const c of this.clients) {
      c.online = true;
      if (c.outbox.length > 0) await this.push(c, false);
    }
    for (const c of this.clients) for (const table of TABLES) await this.pullAll(c, table, 3);
    const server = await this.serverState();
    const expected = stateLines(this.model.records);
    diff('server', server, 'model', expected);
    this.clients.forEach((c, i) => {
      diff(`client ${i}`, stateLines(toState(c.known.values())), 'model', expected);
    });
    this.tally.fieldsCompared += expected.length * (this.clients.length + 1);
    this.tally.histories++;
  }

  private clientOf(op: { c: number }): SimClient {
    return this.clients[op.c % this.clients.length]!;
  }

  private at(op: { c: number }, tick: number, sub: number): Micros {
    return this.base + this.history.skews[op.c % this.clients.length]! + tick * 1000 + sub;
  }

  private async step(op: Op): Promise<void> {
    const c = this.clientOf(op);
    switch (op.t) {
      case 'edit':
        c.outbox.push(this.edit(op));
        return;
      case 'push':
        if (c.online && c.outbox.length > 0) await this.push(c, op.lose);
        return;
      case 'pull':
        if (c.online) await this.pull(c, op.table, op.limit);
        return;
      case 'offline':
        c.online = false;
        return;
      case 'online':
        c.online = true;
        return;
    }
  }

  /** The wire change of an edit and the field writes the model expects it to mean. */
  private edit(op: Extract<Op, { t: 'edit' }>): { wire: Record<string, unknown>; model: ModelChange } {
    const writes: FieldWrite[] = op.fields.map((f) => ({
      name: f.name,
      value: f.value,
      at: this.at(op, f.tick, f.sub),
    }));
    const fields: Record<string, WireField> = {};
    for (const w of writes) fields[w.name] = { value: w.value, updatedAt: render(w.at, op.format) };
    const wire: Record<string, unknown> = { table: op.table, id: op.id };
    const at = this.at(op, op.tick, op.sub);
    if (op.kind === 'delete') {
      Object.assign(wire, { op: 'delete', deletedAt: render(at, op.format) });
      return { wire, model: { table: op.table, id: op.id, writes: deleteWrites(at) } };
    }
    if (op.kind === 'undelete') {
      writes.push({ name: DELETED_AT, value: null, at });
      fields[DELETED_AT] = { value: null, updatedAt: render(at, op.format) };
    }
    Object.assign(wire, { op: op.kind === 'insert' ? 'insert' : 'update', fields });
    // A data value takes the change's newest field timestamp (only sent when there is one).
    if (op.data && writes.length > 0) {
      wire.data = { [DATA_FIELD]: op.data.value };
      writes.push({ name: DATA_FIELD, value: op.data.value, at: Math.max(...writes.map((w) => w.at)) });
    }
    return { wire, model: { table: op.table, id: op.id, writes } };
  }

  private async push(c: SimClient, lose: boolean): Promise<void> {
    const body = {
      clientId: c.clientId,
      ...(c.pushCursor ? { since: c.pushCursor } : {}),
      changes: c.outbox.map((o) => o.wire),
    };
    const res = await this.ts.push(this.userId, this.appId, body);
    const json = (await res.json()) as {
      serverChanges: WireServerChange[];
      conflicts: Array<Record<string, unknown>>;
      syncedUntil: string;
      hasMore: boolean;
    };
    if (res.status !== 200) throw new Error(`push answered ${res.status}: ${JSON.stringify(json)}`);
    // The server committed the batch: the model applies it whether or not the client hears back.
    const expectedConflicts = this.model.applyBatch(c.outbox.map((o) => o.model));
    this.tally.pushes++;
    this.tally.changesPushed += c.outbox.length;
    if (lose) {
      this.tally.lostResponses++;
      return; // the client keeps its outbox and will push it again
    }
    const got = json.conflicts.map((k) => ({
      table: String(k.table),
      id: String(k.id),
      field: String(k.field),
      clientValue: k.clientValue as never,
      clientAt: parseCanonical(k.clientUpdatedAt),
      serverValue: k.serverValue as never,
      serverAt: parseCanonical(k.serverUpdatedAt),
    }));
    diff('push conflicts', conflictLines(got), 'model conflicts', conflictLines(expectedConflicts));
    this.tally.conflictsChecked += got.length;
    c.outbox = [];
    this.receive(c, json.serverChanges, c.pushCursor, json.syncedUntil, json.hasMore, null);
    c.pushCursor = json.syncedUntil;
  }

  private async pull(c: SimClient, table: string, limit: number): Promise<boolean> {
    const since = c.pullCursors.get(table);
    const query: Record<string, string> = { collection: table, limit: String(limit) };
    if (since) query.since = since;
    const res = await this.ts.pull(this.userId, this.appId, query, { 'x-client-id': c.clientId });
    const json = (await res.json()) as {
      serverChanges: WireServerChange[];
      syncedUntil: string;
      hasMore: boolean;
    };
    if (res.status !== 200) throw new Error(`pull answered ${res.status}: ${JSON.stringify(json)}`);
    this.tally.pulls++;
    if (json.serverChanges.length > limit) throw new Error(`pull returned more than limit ${limit}`);
    if (json.hasMore && json.serverChanges.length !== limit) throw new Error('hasMore on a short page');
    this.receive(c, json.serverChanges, since, json.syncedUntil, json.hasMore, table);
    c.pullCursors.set(table, json.syncedUntil);
    return json.hasMore;
  }

  private async pullAll(c: SimClient, table: string, limit: number): Promise<void> {
    for (let guard = 0; guard < 500; guard++) if (!(await this.pull(c, table, limit))) return;
    throw new Error('pull never ended (hasMore stayed true)');
  }

  /** Checks a page of server changes against the protocol's invariants and applies it. */
  private receive(
    c: SimClient,
    changes: WireServerChange[],
    since: string | undefined,
    syncedUntil: string,
    _hasMore: boolean,
    table: string | null,
  ): void {
    let last = since ? parseCanonical(since) : 0;
    for (const sc of changes) {
      if (table !== null && sc.table !== table) throw new Error(`pull of ${table} returned ${sc.table}`);
      const position = parseCanonical(sc.updatedAt);
      if (position <= last)
        throw new Error(`positions not strictly increasing after ${since}: ${sc.updatedAt}`);
      last = position;
      const deletedAt = sc.fields[DELETED_AT]?.value;
      const deleted = deletedAt !== null && deletedAt !== undefined;
      if ((sc.op === 'delete') !== deleted) throw new Error(`op ${sc.op} but deletedAt ${String(deletedAt)}`);
      if (deleted && sc.deletedAt !== deletedAt) throw new Error('deletedAt differs from its field');
      const key = recordKey(sc.table, sc.id);
      const prev = c.known.get(key);
      if (prev && parseCanonical(prev.updatedAt) > position) {
        throw new Error(`client received an older state of ${key} after a newer one`);
      }
      c.known.set(key, sc);
    }
    const until = parseCanonical(syncedUntil);
    const expectedUntil = changes.length > 0 ? last : since ? parseCanonical(since) : 0;
    if (until !== expectedUntil) throw new Error(`syncedUntil ${syncedUntil} is not the last position`);
  }

  /** The server's merged state, read by a fresh reader from the beginning. */
  private async serverState(): Promise<string[]> {
    const reader = new SimClient('reader');
    for (const table of TABLES) await this.pullAll(reader, table, 5);
    return stateLines(toState(reader.known.values()));
  }
}

function toState(changes: Iterable<WireServerChange>): ModelState {
  const state: ModelState = new Map();
  for (const sc of changes) {
    const record = new Map<string, { value: never; at: Micros }>();
    for (const [name, f] of Object.entries(sc.fields)) {
      record.set(name, { value: f.value as never, at: parseCanonical(f.updatedAt) });
    }
    state.set(recordKey(sc.table, sc.id), record);
  }
  return state;
}

function diff(aName: string, a: string[], bName: string, b: string[]): void {
  if (a.length === b.length && a.every((line, i) => sameJson(line, b[i]))) return;
  const onlyA = a.filter((l) => !b.includes(l));
  const onlyB = b.filter((l) => !a.includes(l));
  throw new Error(
    `${aName} differs from ${bName}:\n  only in ${aName}:\n    ${onlyA.join('\n    ')}\n  only in ${bName}:\n    ${onlyB.join('\n    ')}`,
  );
}
