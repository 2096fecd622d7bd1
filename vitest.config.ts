import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// File suffix chooses the environment (see README "Tests"):
//   *.test.ts     always runs (embedded PGlite, in-process parts)
//   *.pg.test.ts  needs TEST_DATABASE_URL; skipped with a notice when it is unset
// Workspace packages resolve to their TypeScript sources through the "source" export
// condition, so tests never need (or see a stale) `npm run build`.
export default defineConfig({
  resolve: { conditions: ['source', ...defaultClientConditions] },
  ssr: { resolve: { conditions: ['source', ...defaultServerConditions] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
