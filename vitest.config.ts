import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'
import { ACCESS_AUD, ADMIN_TOKEN, READ_TOKEN } from './test/support/tokens.ts'

export default defineConfig({
  test: {
    globalSetup: ['./test/support/global-setup.ts'],
    projects: [
      {
        // The worker and its pure core, inside workerd.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                STABLE_ORIGIN: `http://127.0.0.1:${inject('stablePort')}`,
                CANARY_ORIGIN: `http://127.0.0.1:${inject('canaryPort')}`,
                SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
                SLUICE_TOKENS: JSON.stringify([{ name: 'viewer', role: 'read', token: READ_TOKEN }]),
                ACCESS_TEAM_DOMAIN: `http://127.0.0.1:${inject('accessPort')}`,
                ACCESS_AUD: ACCESS_AUD,
              },
            },
          })),
        ],
        test: { name: 'workers', include: ['test/**/*.test.ts'], exclude: ['test/node/**', 'test/e2e/**'] },
      },
      {
        // Tools that run in Node (CLI, scripts) against a real local worker.
        test: { name: 'node', include: ['test/node/**/*.test.ts'], environment: 'node' },
      },
      {
        // The `npm start` stack driven by headless Chromium: `npm run test:e2e`.
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', fileParallelism: false, testTimeout: 120_000 },
      },
    ],
  },
})
