import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInChromium, type Rig, startRig, todoTitles } from './helpers/e2e.js';

type Status = { state: string; pending: number; realtime: boolean };
const statusOf = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { manaSync: { status: Status } }).manaSync.status);

/** Resolves when the page lists a todo with this title (the input's value is a property, not an attribute). */
function shows(page: Page, title: string, timeout: number) {
  return page.waitForFunction(
    (t) =>
      [...document.querySelectorAll<HTMLInputElement>('[data-testid=todo] input.title')].some(
        (e) => e.value === t,
      ),
    title,
    { timeout, polling: 'raf' },
  );
}

async function addTodo(page: Page, title: string) {
  await page.getByTestId('new-todo').fill(title);
  await page.getByTestId('new-todo').press('Enter');
}

describeInChromium('two browsers of one user, in Chromium', () => {
  let rig: Rig;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mana-todo-rt-'));
    rig = await startRig(dir);
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function latencies(user: string, extra: Record<string, string> = {}) {
    const [ctxA, ctxB] = [await rig.browser.newContext(), await rig.browser.newContext()];
    const a = await rig.open(ctxA, user, extra);
    const b = await rig.open(ctxB, user, extra);
    await expect.poll(async () => (await statusOf(a)).realtime && (await statusOf(b)).realtime).toBe(true);
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const title = `live ${i}`;
      const started = performance.now();
      await addTodo(from, title);
      await shows(to, title, 2000);
      ms.push(Math.round(performance.now() - started));
    }
    await ctxA.close();
    await ctxB.close();
    return ms.sort((x, y) => x - y);
  }

  it("see each other's new todo within 2 s through the WebSocket", async () => {
    const atOnce = await latencies('alice');
    console.log(`write → other browser, default settings (push at once) (ms): ${atOnce.join(', ')}`);
    expect(atOnce.at(-1)!).toBeLessThan(2000);
    const withDebounce = await latencies('alice-debounce', { debounce: '1000' });
    console.log(`write → other browser, 1 s push debounce (ms): ${withDebounce.join(', ')}`);
  }, 90_000);

  it('both go offline, edit different fields of one todo, come back, and both show the merged todo', async () => {
    const [ctxA, ctxB] = [await rig.browser.newContext(), await rig.browser.newContext()];
    const a = await rig.open(ctxA, 'bob');
    const b = await rig.open(ctxB, 'bob');
    await addTodo(a, 'Plan the trip');
    await shows(b, 'Plan the trip', 5000);

    await ctxA.setOffline(true);
    await ctxB.setOffline(true);
    await expect.poll(async () => (await statusOf(a)).state).toBe('offline');
    await expect.poll(async () => (await statusOf(b)).state).toBe('offline');
    // A ticks it off; B renames it.
    await a.locator('[data-testid=todo] input[type=checkbox]').first().check();
    const title = b.locator('[data-testid=todo] input.title').first();
    await title.fill('Plan the trip to Lisbon');
    await title.press('Enter');
    await title.blur();
    await expect.poll(async () => (await statusOf(b)).pending).toBeGreaterThan(0);
    await expect.poll(async () => (await statusOf(a)).pending).toBeGreaterThan(0);

    await ctxA.setOffline(false);
    await ctxB.setOffline(false);
    for (const page of [a, b]) {
      await expect.poll(() => todoTitles(page), { timeout: 10_000 }).toEqual(['Plan the trip to Lisbon']);
      await expect
        .poll(() => page.locator('[data-testid=todo] input[type=checkbox]').first().isChecked(), {
          timeout: 10_000,
        })
        .toBe(true);
    }
    await ctxA.close();
    await ctxB.close();
  }, 60_000);
});
