import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['test/**/*.test.ts'], exclude: ['test/vcan/**', 'test/rigs/**'], sequence: { groupOrder: 0 } },
      },
      {
        // Guest-kernel (vcan) tests keep both cores busy with an emulated CPU: run them after the
        // rest, one file at a time, so neither they nor the timing-sensitive tests starve.
        extends: true,
        test: { name: 'vcan', include: ['test/vcan/**/*.test.ts'], sequence: { groupOrder: 1 }, fileParallelism: false },
      },
      {
        // Emulated arm64 userland and a systemd guest (Debian roots from scripts/rigs/): after the
        // rest, one file at a time, for the same reason.
        extends: true,
        test: { name: 'rigs', include: ['test/rigs/**/*.test.ts'], sequence: { groupOrder: 2 }, fileParallelism: false, testTimeout: 600_000 },
      },
    ],
  },
});
