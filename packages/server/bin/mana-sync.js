#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx), so there is no build step to forget.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

// Hooks run last-registered first: tsx resolves and then asks this hook, which adds the
// "source" condition so @mana/sync-protocol resolves to its sources, not to a build.
register('./source-condition.js', import.meta.url);
registerTsx();
await import('../src/cli.ts');
