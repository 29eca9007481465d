import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const here = import.meta.dirname;

// Multi-page app: lobby, broadcaster and viewer pages share one bundle graph.
export default defineConfig({
  root: here,
  build: {
    outDir: resolve(here, '../dist/client'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        index: resolve(here, 'index.html'),
        watch: resolve(here, 'watch.html'),
        broadcast: resolve(here, 'broadcast.html'),
      },
    },
  },
});
