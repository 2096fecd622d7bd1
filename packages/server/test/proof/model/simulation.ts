import { canonicalize } from '@mana/sync-protocol';
import type { TestServer } from '../../helpers/test-server.js';
import { DATA_FIELD, type History, type Op, TABLES } from './history.js';
import { sameJson, stableJson } from './json.js';
import {
  conflictLines,
  DELETED_AT,
  deleteWrites,
  type FieldWrite,
  LwwModel,
  type ModelChange,
  type ModelState,
  recordKey,
  type StoredField,
  stateLines,
} from './lww-model.js';
import { canonical, type Micros, parseCanonical, parseWire, render } from './time.js';

/**
 * Runs one history against a real server: N simulated clients of one user edit offline,
 * push (sometimes losing the response after the server committed, then retrying), pull in
 * pages, and finally sync up. Throws, naming the difference, when any client, the server
 * and the reference model disagree, or when a response breaks a protocol invariant.
 *
 * A client holds its own edits from the moment it makes them (under the LWW rule, so an edit
 * stamped earlier than what it holds does not replace it) and queues them in its outbox until
 * a push is acknowledged. It applies server changes field by field, as DESIGN.md section 12
 * says a client must: the server leaves out the fields the client wrote itself, so a field
 * absent from a change keeps the client's value, and a record it lacks is created from the
 * change's fields. Every server change is checked against the model: exactly the record's
 * fields the asking client did not write, and no record with none left; every page against
 * the same read by a client that names none (nothing left out) for its cursor and `hasMore`.
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
  deletedAt?: unknown;
  updatedAt: string;
  eventId: string;
}

interface Page {
  serverChanges: WireServerChange[];
  syncedUntil: string;
  hasMore: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface Tally {
  histories: number;
  pushes: number;
  lostResponses: number;
  pulls: number;
  changesPushed: number;
  conflictsChecked: number;
  fieldsCompared: number;
  lost: number;
  /** Fields a server change left out because the asking client wrote them (the echo rule). */
  fieldsLeftOut: number;
  /** Records a page skipped because the asking client wrote every field. */
  recordsSkipped: number;
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
  fieldsLeftOut: 0,
  recordsSkipped: 0,
});

class SimClient {
  online = true;
  outbox: Array<{ wire: Record<string, unknown>; model: ModelChange }> = [];
  /** What the client holds, field by field: its own edits and what the server sent it. */
  records: ModelState = new Map();
  /** Position of the latest server change received for each record. */
  positions = new Map<string, Micros>();
  pushCursor: string | undefined;
  pullCursors = new Map<string, string>();
  /**
   * `clientId` null: a reader that names no client (no X-Client-Id), so nothing is left out.
   * `header`: the client sends X-Client-Id on its pushes too (the web app does), the same id.
   */
  constructor(
    readonly clientId: string | null,
    readonly header: boolean,
  ) {}

  /** Field-level LWW on the client's copy; `ties`: an equal timestamp replaces too. */
  hold(key: string, name: string, f: StoredField, ties: boolean): void {
    let record = this.records.get(key);
    if (record === undefined) {
      record = new Map();
      this.records.set(key, record);
    }
    const held = record.get(name);
    if (held === undefined || f.at > held.at || (ties && f.at === held.at)) record.set(name, f);
  }
}

export class Simulation {
  private readonly model = new LwwModel();
  /** eventId → the record position it was sent for, and back: one id per position. */
  private readonly events = new Map<string, string>();
  private readonly eventOf = new Map<string, string>();
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
    // Every other client also names itself in an X-Client-Id header on pushes (as the web app
    // does); the others are known by the body's clientId alone.
    this.clients = Array.from(
      { length: history.clients },
      (_, i) => new SimClient(`client-${i}`, i % 2 === 0),
    );
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
      diff(`client ${i}`, stateLines(c.records), 'model', expected);
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
    const out = this.editWire(op);
    // The client holds its own edit at once (the server will not send it back).
    const c = this.clientOf(op);
    const key = recordKey(op.table, op.id);
    for (const w of out.model.writes) c.hold(key, w.name, { value: w.value, at: w.at }, false);
    return out;
  }

  private editWire(op: Extract<Op, { t: 'edit' }>): { wire: Record<string, unknown>; model: ModelChange } {
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
    // What the answer's page must hold: the records after the client's cursor as they were
    // before this push (read before it, naming no client), then those the push writes.
    const before = await this.readAfter(c.pushCursor);
    const expectedBefore = this.forClient(c, before);
    const body = {
      clientId: c.clientId,
      ...(c.pushCursor ? { since: c.pushCursor } : {}),
      changes: c.outbox.map((o) => o.wire),
    };
    const headers: Record<string, string> = c.header ? { 'x-client-id': c.clientId! } : {};
    const res = await this.ts.push(this.userId, this.appId, body, headers);
    const json = (await res.json()) as Page & { conflicts: Array<Record<string, unknown>> };
    if (res.status !== 200) throw new Error(`push answered ${res.status}: ${JSON.stringify(json)}`);
    // The server committed the batch: the model applies it whether or not the client hears back.
    const expectedConflicts = this.model.applyBatch(
      c.outbox.map((o) => o.model),
      c.clientId!,
    );
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
      clientAt: parseWire(k.clientUpdatedAt),
      serverValue: k.serverValue as never,
      serverAt: parseWire(k.serverUpdatedAt),
    }));
    diff('push conflicts', conflictLines(got), 'model conflicts', conflictLines(expectedConflicts));
    this.tally.conflictsChecked += got.length;
    c.outbox = [];
    await this.checkPushAnswer(c, json, before, expectedBefore);
    this.receive(c, json.serverChanges);
    c.pushCursor = json.syncedUntil;
  }

  /**
   * A push answer is the page of records after the client's cursor as they were before the
   * push (`before`, as the client gets them: `expectedBefore`) but for those the push rewrote,
   * then the records the push wrote, each without the fields the client wrote and none left with no field; its cursor
   * is the last position of all of them (these histories never fill a page).
   */
  private async checkPushAnswer(
    c: SimClient,
    page: Page,
    before: WireServerChange[],
    expectedBefore: WireServerChange[],
  ): Promise<void> {
    this.checkShape(page, c.pushCursor, null, null);
    if (page.hasMore) throw new Error('a push answer of a small history has more');
    const after = await this.readAfter(c.pushCursor);
    let lastBefore = c.pushCursor ? parseCanonical(c.pushCursor) : 0;
    for (const sc of before) lastBefore = Math.max(lastBefore, parseCanonical(sc.updatedAt));
    const written = after.filter((sc) => parseCanonical(sc.updatedAt) > lastBefore);
    // A record the push rewrote goes out once, as written: its row from before is left out.
    const rewritten = new Set(written.map((sc) => `${sc.table}/${sc.id}`));
    const expected = [
      ...expectedBefore.filter((sc) => !rewritten.has(`${sc.table}/${sc.id}`)),
      ...this.forClient(c, written),
    ];
    diff(
      `push answer to ${c.clientId}`,
      page.serverChanges.map(stableJson),
      'the records read naming no client',
      expected.map(stableJson),
    );
    const until = written.at(-1)?.updatedAt ?? before.at(-1)?.updatedAt ?? c.pushCursor ?? canonical(0);
    if (page.syncedUntil !== until)
      throw new Error(
        `push answer's syncedUntil ${page.syncedUntil} is not the last record's position ${until}`,
      );
  }

  /** Every record after `since` on both tables, read naming no client, in position order. */
  private async readAfter(since: string | undefined): Promise<WireServerChange[]> {
    const all: WireServerChange[] = [];
    for (const table of TABLES) {
      let cursor = since;
      for (let guard = 0; ; guard++) {
        if (guard === 100) throw new Error('a read of the whole table never ended');
        const read = await this.read(table, cursor, 1000);
        all.push(...read.serverChanges);
        cursor = read.syncedUntil;
        if (!read.hasMore) break;
      }
    }
    return all.sort((a, b) => parseCanonical(a.updatedAt) - parseCanonical(b.updatedAt));
  }

  /** A page read naming no client: every field of every record, checked against the model. */
  private async read(table: string, since: string | undefined, limit: number): Promise<Page> {
    const query: Record<string, string> = { collection: table, limit: String(limit) };
    if (since) query.since = since;
    const res = await this.ts.pull(this.userId, this.appId, query);
    const page = (await res.json()) as Page;
    if (res.status !== 200) throw new Error(`pull answered ${res.status}: ${JSON.stringify(page)}`);
    this.checkShape(page, since, table, limit);
    for (const sc of page.serverChanges) this.checkAgainstModel(sc);
    // Nothing is left out: the cursor is the last record sent, and a page with more is full.
    const last = page.serverChanges.at(-1)?.updatedAt ?? since ?? canonical(0);
    if (parseCanonical(page.syncedUntil) !== parseCanonical(last))
      throw new Error(`syncedUntil ${page.syncedUntil} is not the last position ${last}`);
    if (page.hasMore && page.serverChanges.length !== limit) throw new Error('hasMore on a short page');
    return page;
  }

  /**
   * Records read naming no client as client `c` must get them (the echo rule, from the
   * model's writers): without the fields `c` wrote, and none left with no field.
   */
  private forClient(c: SimClient, full: WireServerChange[]): WireServerChange[] {
    const out: WireServerChange[] = [];
    for (const sc of full) {
      const keep = this.model.sentTo(recordKey(sc.table, sc.id), c.clientId);
      const fields: Record<string, WireField> = {};
      for (const [name, f] of Object.entries(sc.fields)) if (keep.has(name)) fields[name] = f;
      const n = Object.keys(fields).length;
      this.tally.fieldsLeftOut += Object.keys(sc.fields).length - n;
      if (n === 0) this.tally.recordsSkipped++;
      else out.push({ ...sc, fields });
    }
    return out;
  }

  private async pull(c: SimClient, table: string, limit: number): Promise<boolean> {
    const since = c.pullCursors.get(table);
    if (c.clientId === null) {
      const page = await this.read(table, since, limit);
      this.tally.pulls++;
      this.receive(c, page.serverChanges);
      c.pullCursors.set(table, page.syncedUntil);
      return page.hasMore;
    }
    const query: Record<string, string> = { collection: table, limit: String(limit) };
    if (since) query.since = since;
    const res = await this.ts.pull(this.userId, this.appId, query, { 'x-client-id': c.clientId });
    const json = (await res.json()) as Page;
    if (res.status !== 200) throw new Error(`pull answered ${res.status}: ${JSON.stringify(json)}`);
    this.tally.pulls++;
    this.checkShape(json, since, table, limit);
    // The same page read naming no client: the same records but for the client's own fields
    // (a record left with none is skipped), and the same cursor and hasMore (a skipped record
    // still counts, and the cursor moves past it).
    const full = await this.read(table, since, limit);
    diff(
      `pull for ${c.clientId}`,
      json.serverChanges.map(stableJson),
      'the same read naming no client',
      this.forClient(c, full.serverChanges).map(stableJson),
    );
    if (json.syncedUntil !== full.syncedUntil || json.hasMore !== full.hasMore) {
      throw new Error(
        `pull for ${c.clientId} ends at ${json.syncedUntil} hasMore=${json.hasMore}, the same read naming no client at ${full.syncedUntil} hasMore=${full.hasMore}`,
      );
    }
    this.receive(c, json.serverChanges);
    c.pullCursors.set(table, json.syncedUntil);
    return json.hasMore;
  }

  private async pullAll(c: SimClient, table: string, limit: number): Promise<void> {
    for (let guard = 0; guard < 500; guard++) if (!(await this.pull(c, table, limit))) return;
    throw new Error('pull never ended (hasMore stayed true)');
  }

  /**
   * The protocol's invariants of a page: positions strictly increasing after `since`, of the
   * pulled table only, at most `limit`; `op` update or delete (never insert), `deletedAt` a
   * wire-form timestamp exactly on a delete, never null; an eventId, one per record position;
   * the cursor not before anything sent.
   */
  private checkShape(
    page: Page,
    since: string | undefined,
    table: string | null,
    limit: number | null,
  ): void {
    const sinceUs = since ? parseCanonical(since) : 0;
    let last = sinceUs;
    for (const sc of page.serverChanges) {
      const key = recordKey(sc.table, sc.id);
      if (table !== null && sc.table !== table) throw new Error(`pull of ${table} returned ${sc.table}`);
      const position = parseCanonical(sc.updatedAt);
      if (position <= last)
        throw new Error(`positions not strictly increasing after ${since}: ${sc.updatedAt}`);
      last = position;
      if (sc.op !== 'update' && sc.op !== 'delete') throw new Error(`${key}: op ${sc.op}`);
      if (sc.op === 'delete') fieldTime(sc.deletedAt);
      else if ('deletedAt' in sc) throw new Error(`${key}: op update with deletedAt ${String(sc.deletedAt)}`);
      if (Object.keys(sc.fields).length === 0) throw new Error(`${key} sent with no field`);
      for (const f of Object.values(sc.fields)) fieldTime(f.updatedAt);
      if (typeof sc.eventId !== 'string' || !UUID.test(sc.eventId))
        throw new Error(`${key}: eventId ${sc.eventId}`);
      const at = `${key}@${sc.updatedAt}`;
      const seen = this.events.get(sc.eventId);
      if (seen !== undefined && seen !== at) throw new Error(`eventId ${sc.eventId} of ${at} and of ${seen}`);
      this.events.set(sc.eventId, at);
      const event = this.eventOf.get(at);
      if (event !== undefined && event !== sc.eventId)
        throw new Error(`${at}: eventId ${sc.eventId}, before ${event}`);
      this.eventOf.set(at, sc.eventId);
    }
    if (limit !== null && page.serverChanges.length > limit)
      throw new Error(`pull returned more than limit ${limit}`);
    const until = parseCanonical(page.syncedUntil);
    if (until < last || until < sinceUs)
      throw new Error(`syncedUntil ${page.syncedUntil} before a change it sent`);
  }

  /**
   * A change read naming no client is the model's record now: every field, value and time,
   * `op` delete exactly when its `deletedAt` is set, and then `deletedAt` its time.
   */
  private checkAgainstModel(sc: WireServerChange): void {
    const key = recordKey(sc.table, sc.id);
    const expected = this.model.sentTo(key, null);
    const got = new Map<string, StoredField>();
    for (const [name, f] of Object.entries(sc.fields)) {
      got.set(name, { value: f.value as never, at: fieldTime(f.updatedAt) });
    }
    diff(
      `${key} as sent`,
      stateLines(new Map([[key, got]])),
      'model',
      stateLines(new Map([[key, expected]])),
    );
    const deletedAt = expected.get(DELETED_AT)?.value;
    const deleted = deletedAt !== null && deletedAt !== undefined;
    if ((sc.op === 'delete') !== deleted)
      throw new Error(`${key}: op ${sc.op} but deletedAt ${String(deletedAt)}`);
    if (deleted && fieldTime(sc.deletedAt) !== parseCanonical(deletedAt))
      throw new Error(`${key}: deletedAt ${String(sc.deletedAt)}, the model's ${String(deletedAt)}`);
  }

  /** Applies a checked page to the client's copy, field by field. */
  private receive(c: SimClient, changes: WireServerChange[]): void {
    for (const sc of changes) {
      const key = recordKey(sc.table, sc.id);
      const position = parseCanonical(sc.updatedAt);
      const prev = c.positions.get(key);
      if (prev !== undefined && prev > position) {
        throw new Error(`client received an older state of ${key} after a newer one`);
      }
      c.positions.set(key, position);
      // What the server holds is at least as new as anything the client has pushed: an equal
      // timestamp takes the server's value (it kept the first of a tie).
      for (const [name, f] of Object.entries(sc.fields)) {
        c.hold(key, name, { value: f.value as never, at: fieldTime(f.updatedAt) }, true);
      }
    }
  }

  /** The server's merged state, read by a fresh reader from the beginning. */
  private async serverState(): Promise<string[]> {
    const reader = new SimClient(null, false);
    for (const table of TABLES) await this.pullAll(reader, table, 5);
    return stateLines(reader.records);
  }
}

/**
 * A field timestamp as received: made canonical with the protocol's `canonicalize` (what a
 * client does before comparing), after checking it is in the wire form (`parseWire`).
 */
function fieldTime(s: unknown): Micros {
  const us = parseWire(s);
  const c = canonicalize(s as string);
  if (c === null || parseCanonical(c) !== us) throw new Error(`canonicalize(${String(s)}) is ${c}`);
  return us;
}

function diff(aName: string, a: string[], bName: string, b: string[]): void {
  if (a.length === b.length && a.every((line, i) => sameJson(line, b[i]))) return;
  const onlyA = a.filter((l) => !b.includes(l));
  const onlyB = b.filter((l) => !a.includes(l));
  throw new Error(
    `${aName} differs from ${bName}:\n  only in ${aName}:\n    ${onlyA.join('\n    ')}\n  only in ${bName}:\n    ${onlyB.join('\n    ')}`,
  );
}
