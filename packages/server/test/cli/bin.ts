import { fileURLToPath } from 'node:url';

/** The real mana-sync bin. */
export const BIN_PATH = fileURLToPath(new URL('../../bin/mana-sync.js', import.meta.url));

/**
 * Node arguments that run the bin on the sources, as the tests do everywhere else: the "source"
 * condition makes its "#cli" import src/cli.ts (and @mana/sync-protocol its sources), tsx
 * transpiles them. Plain `node bin/mana-sync.js` runs the build; test/cli/built-bin.test.ts
 * checks that one.
 */
export const SOURCE_BIN = ['--conditions=source', '--import', 'tsx', BIN_PATH];
