import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defaultClientConditions, defineConfig } from 'vite';

// The demo app. `npm run dev -w @mana/todo` with a dev server running
// (`npx mana-sync serve --dev-auth`); ?server= and ?user= pick the sync server and dev user.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [svelte()],
  // The workspace's @mana/sync-client and @mana/sync-protocol from their sources (no build needed).
  resolve: { conditions: ['source', ...defaultClientConditions] },
  server: { port: 5173, strictPort: false },
  build: { outDir: 'dist', emptyOutDir: true },
});
