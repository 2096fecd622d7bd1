#!/usr/bin/env node
// Runs the CLI. "#cli" (package.json "imports") is the build, dist/cli.js, under plain node:
// what `npm start` (after its prestart build), the image and an installed package run. Under
// the "source" condition (`node --conditions=source --import tsx`: tests, dev) it is
// src/cli.ts, and @mana/sync-protocol resolves to its sources the same way.
import { fileURLToPath } from 'node:url';

try {
  await import('#cli');
} catch (err) {
  // A checkout that was never built: say what to run instead of a module-resolution trace.
  const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes(built)) throw err;
  process.stderr.write('mana-sync: the server is not built (no dist/cli.js): run `npm run build` first\n');
  process.exit(2);
}
