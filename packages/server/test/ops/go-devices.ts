import type { ServerChange } from '@mana/sync-protocol';
import { expect } from 'vitest';
import type { TestServer } from '../helpers/test-server.js';
import {
  APPS,
  type FoldRecord,
  type GoRow,
  type GoWriter,
  goCursor,
  isDeletedValue,
  micros,
  recordKey,
  rowKey,
  rowWrites,
} from './go-service.js';

const EPOCH_CURSOR = '1970-01-01T00:00:00.000Z';

interface LocalRecord {
  data: Record<string, unknown>;
  /** Field → time in microseconds. */
  ft: Record<string, number>;
}

/**
 * A device of the Mana web app: its records (per field LWW times) and per-table cursors,
 * applying server changes the way the web app's engine does (webapp-engine notes), with
 * times compared canonically.
 */
export class WebDevice {
  readonly local = new Map<string, LocalRecord>();
  readonly cursors = new Map<string, string>();
  constructor(
    readonly user: string,
    readonly clientId: string,
  ) {}

  /** A Go row as the device got it (its own write, or a Go pull): field-level LWW. */
  applyRow(r: GoRow): void {
    const k = rowKey(r);
    let rec = this.local.get(k);
    if (!rec) {
      rec = { data: {}, ft: {} };
      this.local.set(k, rec);
    }
    for (const [field, value, us] of rowWrites(r)) {
      if (rec.ft[field] === undefined || us >= rec.ft[field]!) {
        rec.data[field] = value;
        rec.ft[field] = us;
      }
    }
  }

  /** applyServerChanges for one change, as the web app does it. */
  applyChange(app: string, c: ServerChange): void {
    const k = recordKey(app, c.table, c.id);
    const existing = this.local.get(k);
    if (c.deletedAt || c.op === 'delete') {
      // The fields of a delete are not applied; an unknown record is skipped.
      if (!existing || !c.deletedAt) return;
      const t = micros(c.deletedAt);
      if (t >= (existing.ft.deletedAt ?? Number.NEGATIVE_INFINITY)) {
        existing.data.deletedAt = c.deletedAt;
        existing.ft.deletedAt = t;
      }
      return;
    }
    const rec = existing ?? { data: {}, ft: {} };
    if (!existing) this.local.set(k, rec);
    for (const [field, f] of Object.entries(c.fields)) {
      const t = micros(f.updatedAt);
      if (t >= (rec.ft[field] ?? Number.NEGATIVE_INFINITY)) {
        rec.data[field] = f.value;
        rec.ft[field] = t;
      }
    }
  }

  /**
   * The web app's pull of every table: from the table's cursor, paged (`limit`), with its
   * X-Client-Id. Returns the records received more than once in this sync.
   */
  async sync(ts: TestServer, limit = 20): Promise<string[]> {
    const seen = new Set<string>();
    const twice: string[] = [];
    for (const [app, tables] of Object.entries(APPS)) {
      for (const table of tables) {
        let cursor = this.cursors.get(`${app}/${table}`) ?? EPOCH_CURSOR;
        for (;;) {
          const res = await ts.pull(
            this.user,
            app,
            { collection: table, since: cursor, limit: String(limit) },
            { 'x-client-id': this.clientId },
          );
          expect(res.status, await res.clone().text()).toBe(200);
          const body = (await res.json()) as {
            serverChanges: ServerChange[];
            syncedUntil?: string;
            hasMore: boolean;
          };
          for (const c of body.serverChanges) {
            const k = recordKey(app, c.table, c.id);
            if (seen.has(k)) twice.push(k);
            seen.add(k);
            this.applyChange(app, c);
          }
          if (!body.syncedUntil) break;
          cursor = body.syncedUntil;
          if (!body.hasMore) break;
        }
        this.cursors.set(`${app}/${table}`, cursor);
      }
    }
    return twice;
  }

  /** Where the device's records differ from the user's records in `expected` (deleted: deletedAt only). */
  mismatches(expected: Map<string, FoldRecord>): string[] {
    const out: string[] = [];
    for (const [k, rec] of expected) {
      if (!k.startsWith(`${this.user}/`)) continue;
      const key = k.slice(this.user.length + 1);
      const local = this.local.get(key);
      const deletedAt = rec.fields.get('deletedAt')?.value;
      if (isDeletedValue(deletedAt)) {
        // A record the device never had is not created by its delete (the web app skips it).
        if (
          local &&
          (!isDeletedValue(local.data.deletedAt) ||
            micros(String(local.data.deletedAt)) !== micros(String(deletedAt)))
        )
          out.push(
            `${this.clientId} ${key}: deletedAt ${String(local.data.deletedAt)}, expected ${String(deletedAt)}`,
          );
        continue;
      }
      if (!local) {
        out.push(`${this.clientId} ${key}: missing`);
        continue;
      }
      for (const [field, f] of rec.fields) {
        const v = local.data[field];
        if (JSON.stringify(v ?? null) !== JSON.stringify(f.value ?? null))
          out.push(
            `${this.clientId} ${key}.${field}: ${JSON.stringify(v)}, expected ${JSON.stringify(f.value)}`,
          );
      }
    }
    return out;
  }
}

/**
 * Each user's devices as the Go service left them: device n has pulled every other device's
 * rows up to a horizon (all of them, about 60 %, about 30 %), holds per table the created_at
 * of the last such row as Go's RFC3339Nano cursor (one device in +01:00), and has its own
 * writes. Plus one device of the first user that never synced (a new client id).
 */
export function goDevices(writer: GoWriter, rows: GoRow[]): WebDevice[] {
  const devices: WebDevice[] = [];
  const fractions = [1, 0.6, 0.3];
  for (const user of writer.users) {
    const mine = rows.filter((r) => r.user === user).sort((a, b) => a.createdUs - b.createdUs);
    writer.devices[user]!.forEach((clientId, n) => {
      const d = new WebDevice(user, clientId);
      const horizon = mine[Math.floor(fractions[n % 3]! * (mine.length - 1))]!.createdUs;
      for (const r of mine) {
        if (r.client === clientId) d.applyRow(r);
        else if (r.createdUs <= horizon) {
          d.applyRow(r);
          d.cursors.set(`${r.app}/${r.table}`, goCursor(r.createdUs, n === 1 ? 60 : 0));
        }
      }
      devices.push(d);
    });
  }
  devices.push(new WebDevice(writer.users[0]!, `${writer.users[0]}-new-laptop`));
  return devices;
}
