import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { BENCH_DATABASE_URL, freshSchema } from '../lib/databases.js';
import { seedTodos, startClientBenchServer } from './sync-server.js';

/**
 * One client first sync (or end-to-end run) in Chromium under the V8 profiler (CDP), written as
 * a .cpuprofile for bench/tools/profile-summary.ts:
 *
 *   npx tsx --conditions=source bench/client/profile-chromium.ts first 20000 /tmp/chromium.cpuprofile
 *   npx tsx --conditions=source bench/client/profile-chromium.ts e2e 10000 /tmp/chromium.cpuprofile 100
 */
const [what = 'first', nArg = '20000', out = '/tmp/chromium.cpuprofile', kArg = '100'] =
  process.argv.slice(2);
const n = Number(nArg);
const bundle = (
  await build({
    entryPoints: [new URL('./page-entry.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    conditions: ['source'],
    write: false,
    logLevel: 'warning',
  })
).outputFiles[0]!.text;
const statics = createServer((req, res) => {
  if (req.url === '/bench.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
  else
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><script src="/bench.js"></script>');
});
await new Promise<void>((r) => statics.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(statics.address() as AddressInfo).port}`;
const schema = BENCH_DATABASE_URL ? await freshSchema(BENCH_DATABASE_URL, 'chromeprof') : undefined;
const server = await startClientBenchServer(schema, [origin]);
const user = `prof-${Date.now()}`;
if (what === 'first') {
  await seedTodos(server, 'todo', user, n);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.exposeFunction('benchToken', (u: string) => server.context.devIssuer!.mint(u, 3600));
  await page.goto(`${origin}/`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const args = what === 'first' ? ['client', user, n] : ['client', user, n, Number(kArg)];
  const result = await page.evaluate(
    ([u, w, a]) =>
      (globalThis as unknown as { benchRun(...x: unknown[]): Promise<object> }).benchRun(u, w, a),
    [`http://127.0.0.1:${server.port}`, what === 'first' ? 'firstSync' : 'endToEnd', args] as const,
  );
  const { profile } = await cdp.send('Profiler.stop');
  writeFileSync(out, JSON.stringify(profile));
  console.log(what, n, result, '->', out);
} finally {
  await browser.close();
  await server.close(1000);
  statics.close();
  await schema?.drop();
}
process.exit(0);
