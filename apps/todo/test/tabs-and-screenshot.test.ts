import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from '../../../packages/server/src/db/sql.js';
import { describeInChromium, type Rig, startRig, todoTitles } from './helpers/e2e.js';

describeInChromium('todo app in Chromium', () => {
  let rig: Rig;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mana-todo-'));
    rig = await startRig(dir);
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('two tabs of one browser share one leader, and both show changes', async () => {
    const ctx = await rig.browser.newContext();
    const other = await rig.browser.newContext();
    const [tab1, tab2] = [await rig.open(ctx, 'tabs'), await rig.open(ctx, 'tabs')];
    const phone = await rig.open(other, 'tabs');
    const leaders = await Promise.all(
      [tab1, tab2].map((p) =>
        p.evaluate(
          () =>
            (globalThis as unknown as { manaSync: { status: { isLeader: boolean } } }).manaSync.status
              .isLeader,
        ),
      ),
    );
    expect(leaders.filter(Boolean)).toHaveLength(1);
    const follower = leaders[0] ? tab2 : tab1;
    const leader = leaders[0] ? tab1 : tab2;

    // Typed in the follower tab: the leader pushes it, the other browser gets it.
    await follower.getByTestId('new-todo').fill('from the follower tab');
    await follower.getByTestId('new-todo').press('Enter');
    await expect.poll(() => todoTitles(leader), { timeout: 10_000 }).toContain('from the follower tab');
    await expect
      .poll(
        async () => {
          await phone.evaluate(() =>
            (globalThis as unknown as { manaSync: { sync(): Promise<unknown> } }).manaSync.sync(),
          );
          return todoTitles(phone);
        },
        { timeout: 10_000 },
      )
      .toContain('from the follower tab');

    // The leader tab closes: the follower takes over.
    await leader.close();
    await expect
      .poll(
        () =>
          follower.evaluate(
            () =>
              (globalThis as unknown as { manaSync: { status: { isLeader: boolean } } }).manaSync.status
                .isLeader,
          ),
        { timeout: 10_000 },
      )
      .toBe(true);
    await ctx.close();
    await other.close();
  }, 60_000);

  it('saves a screenshot of the app', async () => {
    const ctx = await rig.browser.newContext({ viewport: { width: 720, height: 520 } });
    const page = await rig.open(ctx, 'screenshot');
    for (const title of ['Buy milk', 'Call the plumber', 'Write the sync README']) {
      await page.getByTestId('new-todo').fill(title);
      await page.getByTestId('new-todo').press('Enter');
    }
    await page.locator('[data-testid=todo] input[type=checkbox]').first().check();
    await expect
      .poll(
        () =>
          page.evaluate(
            () =>
              (globalThis as unknown as { manaSync: { status: { pending: number } } }).manaSync.status
                .pending,
          ),
        { timeout: 10_000 },
      )
      .toBe(0);
    const out = new URL('../../../test-results/', import.meta.url).pathname;
    await mkdir(out, { recursive: true });
    await page.screenshot({ path: join(out, 'todo-app.png') });
    await ctx.close();
  }, 60_000);

  it('a first sync of 10k records in Chromium', async () => {
    const n = 10_000;
    await rig.sync.db!.forUser('big').query(sql`
      INSERT INTO sync_records (user_id, app_id, table_name, record_id, data, field_timestamps, created_at, updated_at, last_client_id)
      SELECT ${'big'}, 'todo', 'todos', 'big-' || lpad(g::text, 6, '0'),
             jsonb_build_object('title', 'Todo number ' || g, 'done', g % 2 = 0),
             jsonb_build_object('title', '2024-01-01T00:00:00.000000Z', 'done', '2024-01-01T00:00:00.000000Z'),
             now() + g * interval '1 microsecond', now() + g * interval '1 microsecond', 'seed'
      FROM generate_series(1, ${n}::int) AS g
      WHERE ${'big'} = ${'big'}`);
    const ctx = await rig.browser.newContext();
    const started = performance.now();
    const page = await rig.open(ctx, 'big');
    const count = await page.evaluate(async () => {
      const w = globalThis as unknown as { manaDb: { todos: { count(): Promise<number> } } };
      return w.manaDb.todos.count();
    });
    const ms = Math.round(performance.now() - started);
    expect(count).toBe(n);
    console.log(`first sync of ${n} records in Chromium: ${ms} ms (page load to synced)`);
    await ctx.close();
  }, 120_000);
});
