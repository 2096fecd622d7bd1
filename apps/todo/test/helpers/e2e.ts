import { accessSync, constants, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { describe, it } from 'vitest';
import { createLogger } from '../../../../packages/server/src/logger.js';
import { type RunningServer, startServer } from '../../../../packages/server/src/server.js';

/**
 * The end-to-end rig: the todo app built with Vite and served from loopback, a real
 * mana-sync with dev auth (PGlite in memory) allowing that origin, and Debian's Chromium
 * driven by playwright-core.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function chromiumMissing(): string | null {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return null;
  } catch {
    return `no Chromium at ${CHROMIUM}`;
  }
}

const inCi = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

/**
 * A suite that drives Chromium. Chromium is not on a fresh machine (.ci/run installs it):
 * without it the suite is skipped with one line saying how to run it, except in CI, where a
 * missing browser is a failure, never a silent skip.
 */
export function describeInChromium(name: string, suite: () => void): void {
  const missing = chromiumMissing();
  if (!missing) {
    describe(name, suite);
    return;
  }
  const how = 'install it (apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary';
  if (inCi) {
    describe(name, () => {
      it('has a browser to run in (CI)', () => {
        throw new Error(`${missing}: ${how}`);
      });
    });
    return;
  }
  noticeOnce(`apps/todo browser tests skipped: ${missing}; to run them, ${how}.`);
  describe.skip(name, suite);
}

/** One line per test run, however many browser files it has (each runs in its own fork). */
function noticeOnce(line: string): void {
  try {
    writeFileSync(join(tmpdir(), `mana-sync-no-chromium-${process.ppid}`), '', { flag: 'wx' });
  } catch {
    return;
  }
  process.stderr.write(`${line}\n`);
}

export interface Rig {
  appUrl: string;
  sync: RunningServer;
  browser: Browser;
  /** A page of the app for `user`, waiting until its first sync is done. */
  open(context: BrowserContext, user: string, extra?: Record<string, string>): Promise<Page>;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
};

export async function startRig(outDir: string): Promise<Rig> {
  const root = new URL('../..', import.meta.url).pathname;
  await build({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  const statics: Server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = join(outDir, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file.startsWith(outDir) ? file : join(outDir, 'index.html'));
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => statics.listen(0, '127.0.0.1', r));
  const appUrl = `http://127.0.0.1:${(statics.address() as AddressInfo).port}`;
  const sync = await startServer({
    config: {
      port: 0,
      host: '127.0.0.1',
      devAuth: true,
      corsOrigins: [appUrl],
      rateLimitPerSecond: 0,
      logLevel: 'silent',
    },
    inMemory: true,
    logger: createLogger('silent'),
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  return {
    appUrl,
    sync,
    browser,
    async open(context, user, extra = {}) {
      const page = await context.newPage();
      page.on('pageerror', (err) => console.error(`[page ${user}]`, err));
      const q = new URLSearchParams({ server: sync.url.replace('localhost', '127.0.0.1'), user, ...extra });
      await page.goto(`${appUrl}/?${q}`);
      await page.locator('[data-testid=status][data-state=synced]').waitFor({ timeout: 30_000 });
      return page;
    },
    async close() {
      await browser.close();
      await sync.close(500);
      statics.closeAllConnections();
      await new Promise<void>((r) => statics.close(() => r()));
    },
  };
}

export const todoTitles = (page: Page) =>
  page
    .locator('[data-testid=todo] input.title')
    .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
