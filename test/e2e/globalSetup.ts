import { execFileSync } from 'node:child_process';

// e2e pages are served from dist/client: build it from the current sources
// so the browser never runs a stale client.
export default function setup(): void {
  execFileSync('npx', ['vite', 'build', '--config', 'client/vite.config.ts', '--logLevel', 'warn'], { stdio: 'inherit' });
}
