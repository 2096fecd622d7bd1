import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The server's dependency order (README, "Architecture"), read from the imports of every file
 * under packages/server/src:
 *
 *   protocol ← db ← store ← sync ← (http | realtime | cli)      auth ← sync
 *   beside (config, logger, metrics, rate-limit, …): importable from all, importing no layer
 *
 * server.ts wires them together (it may import every layer but the CLI), index.ts is the
 * package's public face. A forbidden edge or a cycle fails, naming the files.
 */

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../src');

type Layer = 'beside' | 'db' | 'store' | 'auth' | 'sync' | 'http' | 'realtime' | 'cli' | 'server' | 'index';

/** What each layer may import besides itself. */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  beside: [],
  db: ['beside'],
  store: ['db', 'beside'],
  auth: ['beside'],
  sync: ['store', 'auth', 'beside'],
  http: ['sync', 'auth', 'beside'],
  realtime: ['sync', 'auth', 'beside'],
  cli: ['server', 'sync', 'auth', 'beside'],
  server: ['http', 'realtime', 'sync', 'store', 'db', 'auth', 'beside'],
  index: ['server', 'http', 'realtime', 'sync', 'store', 'db', 'auth', 'beside'],
};

/** The one db/ module every layer may use: what counts as "the database is down" (db/unavailable.ts). */
const OUTAGE_CLASSIFIER = 'db/unavailable.ts';

/**
 * The one db/ module realtime/ may use: the fan-out's LISTEN/NOTIFY connections. They are a
 * transport between instances, not data (no table, no store), so they do not go through the
 * store or the sync service; db/ keeps the driver, realtime/ gets a three-method interface.
 */
const NOTIFY_CHANNEL = 'db/notify-channel.ts';

/** Packages only some layers may load (a driver is the store's business, hono is HTTP's). */
const PACKAGES: Record<string, (file: string) => boolean> = {
  postgres: (f) => f.startsWith('db/'),
  '@electric-sql/pglite': (f) => f.startsWith('db/'),
  hono: (f) => f.startsWith('http/'),
  '@hono/node-server': (f) => f.startsWith('http/'),
  ws: (f) => f.startsWith('realtime/'),
};

function layerOf(file: string): Layer {
  const top = file.split('/')[0]!;
  if (file === 'server.ts') return 'server';
  if (file === 'index.ts') return 'index';
  if (file === 'cli.ts' || top === 'commands') return 'cli';
  if (
    top === 'db' ||
    top === 'store' ||
    top === 'auth' ||
    top === 'sync' ||
    top === 'http' ||
    top === 'realtime'
  )
    return top;
  if (!file.includes('/')) return 'beside';
  throw new Error(`${file}: a folder the architecture does not name; add it to README and this test`);
}

/** Static imports, re-exports, side-effect imports and dynamic `import('…')`, type-only ones too. */
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => (m[1] ?? m[2])!);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

interface Graph {
  files: string[];
  /** file → the files it imports (relative to src/). */
  edges: Map<string, string[]>;
  /** file → the packages it imports. */
  packages: Map<string, string[]>;
}

function readGraph(): Graph {
  const files = sourceFiles(SRC).sort();
  const edges = new Map<string, string[]>();
  const packages = new Map<string, string[]>();
  for (const file of files) {
    const specs = importsOf(readFileSync(join(SRC, file), 'utf8'));
    edges.set(
      file,
      specs
        .filter((s) => s.startsWith('.'))
        .map((s) => join(dirname(file), s).replace(/\.js$/, '.ts'))
        .filter((target) => target.endsWith('.ts')),
    );
    packages.set(
      file,
      specs.filter((s) => !s.startsWith('.') && !s.startsWith('node:')),
    );
  }
  return { files, edges, packages };
}

function forbiddenEdges(edges: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [from, targets] of edges) {
    const a = layerOf(from);
    for (const to of targets) {
      const b = layerOf(to);
      if (a === b || ALLOWED[a].includes(b) || to === OUTAGE_CLASSIFIER) continue;
      if (a === 'realtime' && to === NOTIFY_CHANNEL) continue;
      bad.push(`${from} (${a}) imports ${to} (${b})`);
    }
  }
  return bad;
}

/** Every cycle's files, in order (Tarjan's strongly connected components of two or more files, or a self-import). */
function cycles(edges: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || edges.get(v)?.includes(v)) found.push(component.reverse());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the server’s dependency order', () => {
  const graph = readGraph();

  it('reads every source file and its imports (the reader itself works)', () => {
    expect(graph.files).toContain('sync/push.ts');
    expect(graph.edges.get('sync/push.ts')).toContain('sync/context.ts');
    expect(
      importsOf(
        `import {\n  a,\n  type B,\n} from './x.js';\nexport type { C } from "../y.js";\nconst m = await import('../z.js');\nimport './side.js';`,
      ),
    ).toEqual(['./x.js', '../y.js', '../z.js', './side.js']);
  });

  it('points one way: no file imports a layer above its own, http and realtime never each other', () => {
    expect(forbiddenEdges(graph.edges)).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(graph.edges).map((c) => c.join(' → '))).toEqual([]);
  });

  it('loads database drivers in db/ only, hono in http/ only, ws in realtime/ only', () => {
    const bad: string[] = [];
    for (const [file, pkgs] of graph.packages) {
      for (const pkg of pkgs) {
        const allowed = PACKAGES[pkg];
        if (allowed && !allowed(file)) bad.push(`${file} imports ${pkg}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('leaves the store to sync/: no transport reaches it through the context', () => {
    const bad = graph.files.filter(
      (f) =>
        ['http', 'realtime', 'cli'].includes(layerOf(f)) &&
        /\b(ctx|context)\.store\b/.test(readFileSync(join(SRC, f), 'utf8')),
    );
    expect(bad).toEqual([]);
  });

  it('names forbidden edges and cycles (the checks above can fail)', () => {
    const upward = new Map([
      ['store/push.ts', ['sync/push.ts']],
      ['http/app.ts', ['realtime/hub.ts']],
      ['realtime/hub.ts', ['store/sync-store.ts', OUTAGE_CLASSIFIER]],
      ['realtime/fanout-postgres.ts', [NOTIFY_CHANNEL, 'db/postgres.ts']],
      ['http/cors.ts', [NOTIFY_CHANNEL]],
    ]);
    expect(forbiddenEdges(upward)).toEqual([
      'store/push.ts (store) imports sync/push.ts (sync)',
      'http/app.ts (http) imports realtime/hub.ts (realtime)',
      'realtime/hub.ts (realtime) imports store/sync-store.ts (store)',
      'realtime/fanout-postgres.ts (realtime) imports db/postgres.ts (db)',
      'http/cors.ts (http) imports db/notify-channel.ts (db)',
    ]);
    const loop = new Map([
      ['store/sync-store.ts', ['store/push.ts']],
      ['store/push.ts', ['store/page.ts']],
      ['store/page.ts', ['store/sync-store.ts']],
      ['store/types.ts', []],
    ]);
    expect(cycles(loop)).toEqual([['store/sync-store.ts', 'store/push.ts', 'store/page.ts']]);
  });
});
