import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../server/src/logger.js';
import { type RunningServer, startServer } from '../../../server/src/server.js';
import { type DeviceProcess, startDevice } from './device-process.js';
import {
  buildAndPack,
  createScratchApp,
  installedCopies,
  packAppDependencies,
  ROOT,
  type Tarball,
} from './scratch-app.js';

/**
 * What a Mana app gets: `npm run build`, `npm pack` of both packages, the tarballs installed
 * into an app outside this repo next to the app's own Dexie 4.0.11 (no registry at test
 * time), two devices as separate plain `node` processes against a real server, and the same
 * app built with Vite.
 */

interface Note {
  id: string;
  [field: string]: unknown;
}

const byId = (a: Note, b: Note) => (a.id < b.id ? -1 : 1);

describe('an app outside this repo installs the packed @mana/sync-client', () => {
  let tmp: string;
  let app: string;
  let packed: Tarball[];
  let server: RunningServer;
  const devices: DeviceProcess[] = [];
  const device = (user: string) => {
    const d = startDevice(app, { SYNC_URL: server.url, SYNC_USER: user });
    devices.push(d);
    return d;
  };

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mana-adoption-'));
    const cache = join(tmp, 'npm-cache');
    packed = await buildAndPack(join(tmp, 'tarballs'), cache);
    const deps = await packAppDependencies(join(tmp, 'tarballs'), cache);
    app = join(tmp, 'app');
    await createScratchApp(app, [...packed, ...deps], cache);
    server = await startServer({
      config: { port: 0, host: '127.0.0.1', devAuth: true, rateLimitPerSecond: 0, logLevel: 'silent' },
      inMemory: true,
      logger: createLogger('silent'),
    });
  }, 300_000);

  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
  });

  afterAll(async () => {
    await server?.close(500);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('gets two tarballs: ESM with types, the protocol at the same version, Dexie only as a peer', async () => {
    expect(relative(ROOT, app).startsWith('..')).toBe(true);
    expect(packed.map((t) => t.name).sort()).toEqual(['@mana/sync-client', '@mana/sync-protocol']);
    console.log(`packed: ${packed.map((t) => `${t.name} ${(t.size / 1024).toFixed(1)} KiB`).join(', ')}`);
    const manifest = async (name: string) =>
      JSON.parse(await readFile(join(app, 'node_modules', name, 'package.json'), 'utf8'));
    const [client, protocol] = [await manifest('@mana/sync-client'), await manifest('@mana/sync-protocol')];
    expect(client.private).toBeUndefined();
    expect(client.dependencies).toEqual({ '@mana/sync-protocol': protocol.version, zod: expect.any(String) });
    expect(client.peerDependencies).toEqual({ dexie: '^4.0.11' });
    for (const pkg of ['@mana/sync-client', '@mana/sync-protocol']) {
      const files = await readdir(join(app, 'node_modules', pkg, 'dist'));
      expect(files).toEqual(expect.arrayContaining(['index.js', 'index.d.ts']));
    }
    // One Dexie in the app: its own, never a copy nested under the client.
    expect(await installedCopies(app, 'dexie')).toEqual(['node_modules/dexie']);
    expect(await installedCopies(app, '@mana/sync-protocol')).toEqual(['node_modules/@mana/sync-protocol']);
  });

  it('an app that used Dexie alone adopts sync in plain Node: its records reach another device identical, live', async () => {
    const notes: Note[] = [
      {
        id: 'n1',
        title: 'Groceries',
        tags: ['home', 'weekly'],
        pinned: true,
        meta: { color: 'red', order: 1.5 },
        archivedAt: null,
      },
      { id: 'n2', title: 'Über café ☕', body: 'line 1\nline 2', count: 0, pinned: false },
      ...Array.from({ length: 30 }, (_, i) => ({
        id: `bulk-${String(i).padStart(2, '0')}`,
        title: `note ${i}`,
      })),
    ];
    const later: Note = { id: 'n3', title: 'written after sync was added', done: false };

    // B is online first: A's writes must reach it over the WebSocket (the fallback pull is 60 s).
    const b = device('adopter');
    await b.call('attach');
    await b.call('start');
    await b.call('waitRealtime');

    const a = device('adopter');
    await a.call('seed', notes);
    await a.call('attach');
    await a.call('start');
    await a.call('put', [later]);
    const expected = [...notes, later].sort(byId);
    await a.call('waitFor', { count: expected.length });
    await b.call('waitFor', { count: expected.length });
    expect(await b.call('all')).toEqual(expected);
    expect(await a.call('all')).toEqual(expected);
    expect(await a.call('stop')).toEqual({ unsynced: [], cleared: false });
    expect(await b.call('stop')).toEqual({ unsynced: [], cleared: false });

    // Both processes loaded one Dexie, the app's 4.0.11, also where the client resolves it.
    for (const d of [a, b]) {
      const dexie = await d.call<{
        semVer: string;
        fromApp: string;
        fromClient: string;
        clientEntry: string;
      }>('dexie');
      expect(dexie.semVer).toBe('4.0.11');
      expect(dexie.fromClient).toBe(dexie.fromApp);
      expect(dexie.clientEntry).toMatch(/node_modules\/@mana\/sync-client\/dist\/index\.js$/);
      expect(d.stderr()).not.toMatch(/Two different versions of Dexie|Error/);
    }
  });

  it('the same app builds with Vite, with one Dexie (the app’s) in the bundle', async () => {
    await writeFile(
      join(app, 'index.html'),
      '<!doctype html><script type="module" src="/main.js"></script>\n',
    );
    await writeFile(
      join(app, 'main.js'),
      [
        "import { Dexie } from 'dexie';",
        "import { createSyncClient, syncStores } from '@mana/sync-client';",
        "const db = new Dexie('notes');",
        "db.version(1).stores({ notes: 'id', ...syncStores });",
        'globalThis.sync = createSyncClient(db, {',
        "  url: location.origin, appId: 'notes', tables: ['notes'], getToken: () => null,",
        '});',
        '',
      ].join('\n'),
    );
    const outDir = join(tmp, 'vite-dist');
    const { build } = await import('vite');
    await build({ root: app, configFile: false, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    const assets = join(outDir, 'assets');
    const js = (
      await Promise.all(
        (
          await readdir(assets)
        )
          .filter((f) => f.endsWith('.js'))
          .map((f) => readFile(join(assets, f), 'utf8')),
      )
    ).join('\n');
    const count = (s: string) => js.split(s).length - 1;
    expect(count('Another connection wants to upgrade database')).toBe(1); // Dexie, once
    expect(count('4.0.11')).toBeGreaterThan(0);
    expect(count('4.4.7')).toBe(0); // the workspace's own Dexie stayed out
    expect(count('_manaSyncOutbox')).toBeGreaterThan(0); // the client is in
  });

  // The lossless parts of issue 19 are built in parallel (value types, client lifecycle,
  // tokens, overwrite events); each check below fails on today's client. Enable each as its
  // part lands.

  it('pre-existing records with Date, Uint8Array, Map and BigInt values arrive identical', async () => {
    const typed: Note[] = [
      {
        id: 't1',
        title: 'typed',
        at: new Date('2024-05-01T10:00:00.123Z'),
        bytes: new Uint8Array([0, 1, 254, 255]),
        map: new Map<string, unknown>([
          ['a', 1],
          ['b', { deep: true }],
        ]),
        big: 2n ** 70n,
      },
    ];
    const a = device('typed');
    await a.call('seed', typed);
    await a.call('attach');
    await a.call('start');
    await a.call('waitFor', { count: typed.length });
    const b = device('typed');
    await b.call('attach');
    await b.call('start');
    await b.call('waitFor', { count: typed.length });
    expect(await b.call('all')).toEqual(typed);
  });

  it('a write followed at once by stop({ clearLocalData: true }) reaches the server', async () => {
    const a = device('signout');
    await a.call('attach');
    await a.call('start');
    await a.call('waitFor', { count: 0 });
    const note = { id: 's1', title: 'written just before sign-out' };
    // Pushed before anything is cleared, and cleared because nothing was left unsynced.
    expect(await a.call('putThenStop', { records: [note], stop: { clearLocalData: true } })).toEqual({
      unsynced: [],
      cleared: true,
    });
    const b = device('signout');
    await b.call('attach');
    await b.call('start');
    await b.call('waitFor', { count: 1 });
    expect(await b.call('all')).toEqual([note]);
  });

  it('a 5 s token makes at most a handful of getToken calls over 20 s', async () => {
    const a = device('short-token');
    await a.call('attach', { tokenTtlSeconds: 5 });
    await a.call('start');
    await a.call('sleep', 20_000);
    const calls = await a.call<Array<{ forceRefresh: boolean }>>('tokenCalls');
    // One per half lifetime (2.5 s) at most, and forceRefresh only after a refusal (none here).
    expect(calls.length).toBeLessThanOrEqual(9);
    expect(calls.filter((c) => c.forceRefresh)).toEqual([]);
  }, 60_000);

  it('an overwritten edit raises its event on both devices, whichever synced first', async () => {
    const manual = {
      realtime: false,
      options: { pushDebounceMs: 3_600_000, pushMaxWaitMs: 3_600_000, pullIntervalMs: 3_600_000 },
    };
    const [a, b] = [device('overwrite'), device('overwrite')];
    for (const d of [a, b]) {
      await d.call('attach', manual);
      await d.call('start');
    }
    await a.call('put', [{ id: 'o1', title: 'first', note: 'first' }]);
    await a.call('sync');
    await b.call('sync');
    // Concurrent edits: A's title and B's note are the earlier ones, and lose.
    await a.call('update', { id: 'o1', changes: { title: 'title by A' } });
    await b.call('update', { id: 'o1', changes: { note: 'note by B' } });
    await a.call('sleep', 20);
    await a.call('update', { id: 'o1', changes: { note: 'note by A' } });
    await b.call('update', { id: 'o1', changes: { title: 'title by B' } });
    // A (whose lost title is the earlier edit) syncs first, then B, then A again.
    await a.call('sync');
    await b.call('sync');
    await a.call('sync');
    const conflicts = async (d: DeviceProcess) =>
      (await d.call<Array<{ event: string; value: Record<string, unknown> }>>('events'))
        .filter((e) => e.event === 'conflict')
        .map((e) => ({
          field: e.value.field,
          localValue: e.value.localValue,
          serverValue: e.value.serverValue,
        }));
    expect(await a.call('all')).toEqual([{ id: 'o1', title: 'title by B', note: 'note by A' }]);
    expect(await b.call('all')).toEqual([{ id: 'o1', title: 'title by B', note: 'note by A' }]);
    expect(await conflicts(a)).toEqual([
      { field: 'title', localValue: 'title by A', serverValue: 'title by B' },
    ]);
    expect(await conflicts(b)).toEqual([
      { field: 'note', localValue: 'note by B', serverValue: 'note by A' },
    ]);
  });
});
