import { execFileSync } from 'node:child_process';

// e2e pages are served from dist/, exactly as `npm start` serves them: build
// server and client from the current sources (the node checks the build stamp).
export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
}
