import type { TestServer } from '../helpers/test-server.js';
import { OurClient } from './our-client.js';
import { Reference, viewDiff, viewLines, webAppWrites } from './reference.js';
import { WebAppClient } from './webapp-model.js';
import { iso, type LastWrite, pick, seededRandom, WorldClock } from './world-clock.js';

/**
 * One seeded history of the conformance suite: two web-app-model clients (W0 polls, W1 holds
 * the SSE stream) and one of ours (O) write the same records of three tables of one app in a
 * random interleaving with pushes and pulls; then everybody syncs until quiet, and every
 * client's visible records, and the server's as a fresh web app reads them, must equal the
 * reference LWW model. Every problem found is collected, and all are thrown at once.
 *
 * The seed fixes every step and every field time. Only W1's view moves with the moment a
 * live stream block lands, so with the stream up a replay may differ in what W1 finds to
 * edit; the final check does not depend on it.
 */

export const APP = 'todo';
export const TABLES = ['todos', 'notes', 'tags'] as const;
const IDS_PER_TABLE = 5;

export interface WebAppTally {
  histories: number;
  writes: number;
  ties: number;
  pushes: number;
  pulls: number;
  streamBlocks: number;
  recordsCompared: number;
}

export const newWebAppTally = (): WebAppTally => ({
  histories: 0,
  writes: 0,
  ties: 0,
  pushes: 0,
  pulls: 0,
  streamBlocks: 0,
  recordsCompared: 0,
});

type Fields = Record<string, unknown>;

/** Every field of a new record (all present, null where empty, so nothing is left undefined). */
function newFields(table: string, r: () => number, tag: string): Fields {
  switch (table) {
    case 'todos':
      return { title: `title ${tag}`, done: r() < 0.5, note: r() < 0.4 ? null : `note ${tag}` };
    case 'notes':
      return { text: `text ${tag}`, pinned: r() < 0.5, color: pick(r, ['red', 'green', null]) };
    default:
      return { name: `name ${tag}`, order: Math.floor(r() * 100) };
  }
}

/**
 * New values for some fields of a record the writer shows as `current`: strings unique per
 * write, so a lost write can never look like the winner, and booleans flipped, so every write
 * changes something (our client, like Dexie apps, sends only fields whose value changed).
 */
function changedFields(
  table: string,
  r: () => number,
  tag: string,
  current: Fields,
  only?: string[],
): Fields {
  const all = newFields(table, r, tag);
  const names = only ?? Object.keys(all).filter(() => r() < 0.5);
  if (names.length === 0) names.push(pick(r, Object.keys(all)));
  return Object.fromEntries(
    names.map((n) => [n, typeof all[n] === 'boolean' ? current[n] !== true : `${n} ${tag}`]),
  );
}

export async function runWebAppHistory(
  ts: TestServer,
  seed: number,
  steps: number,
  tally: WebAppTally,
): Promise<void> {
  const r = seededRandom(seed);
  const user = `webapp-${seed >>> 0}-${Math.random().toString(36).slice(2, 8)}`;
  const web = (name: string) =>
    new WebAppClient({
      url: ts.url,
      appId: APP,
      tables: TABLES,
      clientId: `${name}-${seed >>> 0}`,
      token: () => ts.token(user),
      pullLimit: 3,
      retryDelayMs: 20,
    });
  const w0 = web('webapp-0');
  const w1 = web('webapp-1');
  const ours = await OurClient.start(ts, user, APP, TABLES);
  const clock = new WorldClock(r, Date.now() - 10 * 60_000, 0.35);
  const ref = new Reference();
  const inserted = new Set<string>();
  const problems: string[] = [];
  const stream = w1.stream();
  let n = 0;
  // MANA_WEBAPP_TRACE=1 prints every step of a replayed history.
  const trace = process.env.MANA_WEBAPP_TRACE
    ? (line: string) => process.stdout.write(`${line}\n`)
    : () => {};

  const webOf = (c: number) => (c === 0 ? w0 : c === 1 ? w1 : null);
  const live = async (c: number, table: string, id: string) =>
    webOf(c)?.live(table, id) ?? (await ours.live(table, id));

  async function push(c: number) {
    trace(`c${c} push`);
    const w = webOf(c);
    if (w) {
      const answer = await w.push();
      if (answer) ref.accept(answer.sent.map(webAppWrites));
    } else {
      ref.accept(await ours.sync());
    }
    clock.pushed(c);
    tally.pushes++;
  }

  async function pull(c: number) {
    trace(`c${c} pull`);
    const w = webOf(c);
    if (!w) {
      ref.accept(await ours.sync()); // our client's sync pushes too
      clock.pushed(c);
    } else if (w !== w1 || stream.fellBack) {
      await w.pullAll();
    } else {
      return; // W1 follows the stream, as the web app does for apps it opens lazily
    }
    tally.pulls++;
  }

  async function write(c: number) {
    let tied: LastWrite | null = clock.tie(c);
    const randomTarget = () => {
      const table = pick(r, TABLES);
      return { table, id: `${table}-${Math.floor(r() * IDS_PER_TABLE)}` };
    };
    let { table, id } = tied ?? randomTarget();
    if (tied && !(await live(c, table, id))) {
      tied = null;
      ({ table, id } = randomTarget());
    }
    const tag = `c${c}.${++n}`;
    const w = webOf(c);
    if (!inserted.has(`${table}/${id}`)) {
      const ms = clock.next(null);
      const f = newFields(table, r, tag);
      trace(`c${c} insert ${table}/${id} @${iso(ms)} ${JSON.stringify(f)}`);
      if (w) w.insert(table, id, f, iso(ms));
      else await ours.insert(table, id, f, ms);
      inserted.add(`${table}/${id}`);
      clock.wrote({ client: c, ms, table, id, fields: Object.keys(f), unpushed: true });
    } else if (!(await live(c, table, id))) {
      return; // the web app edits only records it shows
    } else if (!tied && r() < 0.1) {
      const ms = clock.next(null);
      trace(`c${c} delete ${table}/${id} @${iso(ms)}`);
      if (w) w.delete(table, id, iso(ms));
      else await ours.delete(table, id, ms);
      clock.wrote({ client: c, ms, table, id, fields: ['deletedAt'], unpushed: true });
    } else {
      const ms = clock.next(tied);
      const current = (w ? w.store.get(table)?.get(id) : await ours.db.table(table).get(id)) ?? {};
      const f = changedFields(
        table,
        r,
        tag,
        current,
        tied?.fields.filter((x) => x !== 'deletedAt' && r() < 0.7),
      );
      trace(`c${c} update ${table}/${id} @${iso(ms)}${tied ? ' (tie)' : ''} ${JSON.stringify(f)}`);
      if (w) w.update(table, id, f, iso(ms));
      else await ours.update(table, id, f, ms);
      clock.wrote({ client: c, ms, table, id, fields: Object.keys(f), unpushed: true });
      if (tied) tally.ties++;
    }
    tally.writes++;
  }

  try {
    for (let i = 0; i < steps; i++) {
      const c = Math.floor(r() * 3);
      const k = r();
      if (k < 0.55) await write(c);
      else if (k < 0.78) await push(c);
      else await pull(c);
    }
    // Everybody syncs until quiet: push what is left, then catch up.
    for (const c of [0, 1, 2]) await push(c);
    await w0.pullAll();
    ref.accept(await ours.sync());
    if (stream.fellBack) await w1.pullAll();

    const expected = viewLines(ref.visible());
    const check = async (name: string, view: Promise<Map<string, Fields>> | Map<string, Fields>) => {
      const d = viewDiff(name, viewLines(await view), 'the reference model', expected);
      if (d) problems.push(d);
    };
    const status = await stream.firstStatus;
    if (status !== 200) {
      problems.push(
        `GET /sync/${APP}/stream answered ${status}, not an event stream: the web app falls back to polling (so did W1 here)`,
      );
    } else {
      // W1 gets the others' last writes through the stream alone.
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && viewDiff('', viewLines(w1.visible()), '', expected)) {
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    await check('web app W0 (polling)', w0.visible());
    await check(`web app W1 (${status === 200 ? 'SSE stream' : 'polling'})`, w1.visible());
    await check('our client', ours.visible(TABLES));
    const reader = web('reader');
    await reader.pullAll();
    await check('a fresh web app reading the server', reader.visible());
    for (const [name, w] of [
      ['W0', w0],
      ['W1', w1],
      ['the fresh web app', reader],
    ] as const) {
      if (w.dropped.length > 0) {
        const reasons = [...new Set(w.dropped.map((d) => d.reason))].slice(0, 3).join('; ');
        problems.push(`web app ${name} dropped ${w.dropped.length} server change(s) as invalid: ${reasons}`);
      }
    }
    tally.streamBlocks += stream.blocks.length;
    tally.recordsCompared += expected.length * 4;
    tally.histories++;
  } finally {
    stream.close();
    await ours.close();
  }
  if (problems.length > 0) {
    throw new Error(
      `web-app conformance, seed ${seed} (replay: MANA_WEBAPP_SEED=${seed}):\n  ${problems.join('\n  ')}`,
    );
  }
}
