import { randomUUID } from 'node:crypto';
import { type Db, sql } from '../../src/db/sql.js';

/**
 * The Go mana-sync service, as far as the takeover needs it: its database (the seed's
 * sync_changes with its later columns, indexes and forced row-level security), rows as it
 * wrote them, what its devices hold (cursors and local records), and an LWW fold of its rows
 * written here independently of the server's merge code.
 */

/** The Go service's schema, as its migration leaves a database. */
export const GO_SCHEMA = `
CREATE TABLE sync_changes (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  app_id TEXT NOT NULL,
  table_name TEXT NOT NULL,
  record_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  data JSONB,
  field_timestamps JSONB DEFAULT '{}',
  client_id TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  schema_version INT NOT NULL DEFAULT 1,
  actor JSONB,
  space_id TEXT
);
CREATE INDEX idx_sync_changes_user_app ON sync_changes (user_id, app_id, created_at);
CREATE INDEX idx_sync_changes_table_record ON sync_changes (table_name, record_id, created_at);
CREATE INDEX idx_sync_changes_since ON sync_changes (user_id, app_id, table_name, created_at);
CREATE INDEX idx_sync_changes_user_space_app_since ON sync_changes (user_id, space_id, app_id, created_at)
  WHERE space_id IS NOT NULL;
ALTER TABLE sync_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY sync_changes_user_isolation ON sync_changes
  USING (user_id = current_setting('app.current_user_id', true))
  WITH CHECK (user_id = current_setting('app.current_user_id', true));
CREATE POLICY sync_changes_space_member_read ON sync_changes FOR SELECT
  USING (space_id IS NOT NULL AND space_id = ANY(string_to_array(coalesce(current_setting('app.current_user_space_ids', true), ''), ',')));
`;

export const APPS: Record<string, string[]> = { todo: ['tasks', 'lists'], notes: ['notes', 'tags'] };

export interface GoRow {
  id: string;
  user: string;
  app: string;
  table: string;
  record: string;
  op: 'insert' | 'update' | 'delete';
  data: Record<string, unknown> | null;
  ft: Record<string, string>;
  client: string;
  actor: Record<string, unknown> | null;
  space: string | null;
  /** created_at, integer microseconds since the epoch. */
  createdUs: number;
}

export const recordKey = (app: string, table: string, id: string) => `${app}/${table}/${id}`;
export const rowKey = (r: GoRow) => recordKey(r.app, r.table, r.record);

/** Canonical text (six fractional digits) of integer microseconds. */
export function iso(us: number): string {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, 23)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

/** Microseconds of an ISO-8601 time with any fraction and a Z or ±hh:mm offset. */
export function micros(s: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) throw new Error(`not a time: ${s}`);
  const fraction = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return Date.parse(`${m[1]}${m[3]}`) * 1000 + Number(fraction);
}

/** A cursor as Go's RFC3339Nano wrote it: trailing zeros of the fraction dropped, in a zone. */
export function goCursor(us: number, offsetMinutes = 0): string {
  const local = us + offsetMinutes * 60_000_000;
  const canonical = iso(local);
  const fraction = canonical.slice(20, 26).replace(/0+$/, '');
  const zone =
    offsetMinutes === 0
      ? 'Z'
      : `${offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, '0')}:${String(Math.abs(offsetMinutes) % 60).padStart(2, '0')}`;
  return `${canonical.slice(0, 19)}${fraction ? `.${fraction}` : ''}${zone}`;
}

/** Rows as the Go service's web-app clients pushed them: inserts, partial updates, deletes, revivals. */
export class GoWriter {
  private seed: number;
  private created = new Set<string>();
  private usedMs = new Set<number>();
  readonly devices: Record<string, string[]>;
  constructor(
    readonly users: string[],
    seed: number,
    readonly recordsPerTable = 25,
  ) {
    this.seed = seed;
    this.devices = Object.fromEntries(users.map((u) => [u, [`${u}-web`, `${u}-phone`, `${u}-tablet`]]));
  }

  private random(): number {
    // mulberry32
    this.seed = (this.seed + 0x6d2b79f5) | 0;
    let t = this.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.random() * xs.length)]!;
  }
  /** A client's clock, in milliseconds as the web app writes them, never the same twice. */
  private clientTime(createdUs: number): string {
    let ms = Math.floor(createdUs / 1000) + Math.floor(this.random() * 4000) - 3000;
    while (this.usedMs.has(ms)) ms++;
    this.usedMs.add(ms);
    return new Date(ms).toISOString();
  }
  /** field_timestamps for `data`: all of them, some, or none (created_at stands in). */
  private times(data: Record<string, unknown>, at: string): Record<string, string> {
    const mode = this.random();
    const out: Record<string, string> = {};
    for (const k of Object.keys(data)) if (mode < 0.5 || (mode < 0.75 && this.random() < 0.5)) out[k] = at;
    return out;
  }

  /** `count` rows from `startUs` on, created_at strictly increasing. */
  rows(count: number, startUs: number): GoRow[] {
    const out: GoRow[] = [];
    let createdUs = startUs;
    for (let n = 0; n < count; n++) {
      createdUs += 1000 + Math.floor(this.random() * 1000);
      const user = this.pick(this.users);
      const app = this.pick(Object.keys(APPS));
      const table = this.pick(APPS[app]!);
      const record = `r${Math.floor(this.random() * this.recordsPerTable)}`;
      const k = `${user}/${recordKey(app, table, record)}`;
      const at = this.clientTime(createdUs);
      const dice = this.random();
      let op: GoRow['op'];
      let data: Record<string, unknown> | null;
      let ft: Record<string, string>;
      if (!this.created.has(k)) {
        this.created.add(k);
        op = 'insert';
        data = { title: `${record} from ${at}`, done: false, order: n, createdAt: at, updatedAt: at };
        ft = this.times(data, at);
      } else if (dice < 0.1) {
        op = 'delete';
        const withTime = this.random() < 0.7;
        data = withTime ? { deletedAt: at } : this.random() < 0.5 ? {} : null;
        ft = withTime ? { deletedAt: at } : {};
      } else if (dice < 0.16) {
        op = 'update';
        data = { deletedAt: null };
        ft = this.times(data, at);
      } else {
        op = 'update';
        const all: Record<string, unknown> = {
          title: `title ${n}`,
          done: this.random() < 0.5,
          order: n,
          notes: { text: `note ${n}`, lines: [n, n + 1] },
          tags: [`t${n % 7}`],
        };
        const names = Object.keys(all);
        data = {};
        for (let f = 0; f < 1 + Math.floor(this.random() * 2); f++) {
          const name = this.pick(names);
          data[name] = all[name];
        }
        ft = this.times(data, at);
      }
      const a = this.random();
      out.push({
        id: randomUUID(),
        user,
        app,
        table,
        record,
        op,
        data,
        ft,
        client: this.pick(this.devices[user]!),
        actor: a < 0.1 ? { kind: 'ai', agent: 'planner' } : a < 0.2 ? { kind: 'user' } : null,
        space: this.random() < 0.02 ? 'space-shared' : null,
        createdUs,
      });
    }
    return out;
  }
}

/** Writes rows into sync_changes as the Go service did (created_at given, not now()). */
export async function insertGoRows(db: Db, rows: GoRow[]): Promise<void> {
  // Each user's rows as that user, as the Go service wrote them: its forced row-level security
  // policy (and ours) takes no other user's rows.
  const users = [...new Set(rows.map((r) => r.user))];
  for (const user of users)
    await insertUserRows(
      db.forUser(user),
      rows.filter((r) => r.user === user),
    );
}

async function insertUserRows(db: Db, rows: GoRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500).map((r) => ({
      id: r.id,
      a: r.app,
      t: r.table,
      r: r.record,
      u: r.user,
      o: r.op,
      d: r.data,
      f: r.ft,
      c: r.client,
      at: iso(r.createdUs),
      ac: r.actor,
      s: r.space,
    }));
    await db.query(sql`
      INSERT INTO sync_changes (id, app_id, table_name, record_id, user_id, op, data, field_timestamps,
        client_id, created_at, actor, space_id)
      SELECT id, a, t, r, u, o, d, f, c, at::timestamptz, ac, s
      FROM jsonb_to_recordset(${JSON.stringify(chunk)}::text::jsonb)
        AS x(id uuid, a text, t text, r text, u text, o text, d jsonb, f jsonb, c text, at text, ac jsonb, s text)`);
  }
}

/** One field of a record: its value, its time, who wrote it. */
export interface FoldField {
  value: unknown;
  us: number;
  client: string;
  actor: Record<string, unknown> | null;
}

export interface FoldRecord {
  fields: Map<string, FoldField>;
  /** The id of the last row that changed the record. */
  eventId: string;
}

/**
 * Go rows' values as `field → {value, time}` writes: a field's time is its field_timestamps
 * entry, else the row's created_at; a delete sets deletedAt (data.deletedAt, else created_at)
 * and nothing else.
 */
export function rowWrites(r: GoRow): Array<[string, unknown, number]> {
  if (r.op === 'delete') {
    const at = typeof r.data?.deletedAt === 'string' ? r.data.deletedAt : iso(r.createdUs);
    return [['deletedAt', at, micros(at)]];
  }
  return Object.entries(r.data ?? {}).map(([k, v]) => [k, v, r.ft[k] ? micros(r.ft[k]) : r.createdUs]);
}

/** The users' records as field-level LWW makes them of `rows` (in created_at, id order; ties: first stays). */
export function fold(rows: GoRow[], into = new Map<string, FoldRecord>()): Map<string, FoldRecord> {
  const sorted = [...rows].sort(
    (a, b) => a.createdUs - b.createdUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  for (const r of sorted) {
    const k = `${r.user}/${rowKey(r)}`;
    let rec = into.get(k);
    let changed = false;
    for (const [field, value, us] of rowWrites(r)) {
      const old = rec?.fields.get(field);
      if (old && us <= old.us) continue;
      if (!rec) {
        rec = { fields: new Map(), eventId: r.id };
        into.set(k, rec);
      }
      rec.fields.set(field, { value, us, client: r.client, actor: r.actor });
      changed = true;
    }
    if (changed) rec!.eventId = r.id;
  }
  return into;
}

export const isDeletedValue = (v: unknown) => v !== null && v !== undefined && v !== false;
