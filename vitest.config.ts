import { defineConfig } from 'vitest/config';

// Three projects, one tree: test/ mirrors src/. The suffix says what a test needs:
//   *.test.ts      logic, or a short-lived child process
//   *.int.test.ts  real mediasoup workers, real sockets, real ffmpeg/coturn/redis
//   *.e2e.test.ts  real Chromium driving the built client
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          sequence: { groupOrder: 0 },
          exclude: ['test/**/*.int.test.ts', 'test/**/*.e2e.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Workers and media share two cores: one file at a time keeps them honest.
          fileParallelism: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.test.ts'],
          globalSetup: ['test/e2e/globalSetup.ts'],
          env: { FOURCAST_TEST_PAGES: '1' },
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          // A group of its own: eight Chromium pages encoding and decoding on two cores never run
          // beside integration tests' workers (vitest runs the groups one after the other).
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
