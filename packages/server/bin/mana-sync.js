#!/usr/bin/env node
// Runs the CLI. "#cli" (package.json "imports") is the build, dist/cli.js, under plain node:
// what `npm start` (after its prestart build), the image and an installed package run. Under
// the "source" condition (`node --conditions=source --import tsx`: tests, dev) it is
// src/cli.ts, and @mana/sync-protocol resolves to its sources the same way.
await import('#cli');
