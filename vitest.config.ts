import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'
import { ACCESS_AUD, ADMIN_TOKEN, READ_TOKEN } from './test/support/tokens.ts'
import { fakeControl } from './test/support/fake-control.ts'

/** The loopback origins from globalSetup, as the `[vars]` default rollout. */
const origins = (inject: (key: 'stablePort' | 'canaryPort') => number) => ({
  STABLE_ORIGIN: `http://127.0.0.1:${inject('stablePort')}`,
  CANARY_ORIGIN: `http://127.0.0.1:${inject('canaryPort')}`,
})

export default defineConfig({
  test: {
    globalSetup: ['./test/support/global-setup.ts'],
    projects: [
      {
        // The edge worker (wrangler.toml) and the pure core, inside workerd. CONTROL is a stand-in control worker
        // in Node, so the forwarding of /__sluice/ crosses a real service binding.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: origins(inject),
              serviceBindings: { CONTROL: fakeControl },
            },
          })),
        ],
        test: { name: 'edge', include: ['test/core/**/*.test.ts', 'test/edge/**/*.test.ts'] },
      },
      {
        // The control worker (wrangler.control.toml): admin API, dashboard, coordinator and controller, in workerd.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.control.toml' },
            miniflare: {
              bindings: {
                // For tests that also run the edge's code against the KV the control worker publishes to.
                ...origins(inject),
                SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
                SLUICE_TOKENS: JSON.stringify([{ name: 'viewer', role: 'read', token: READ_TOKEN }]),
                ACCESS_TEAM_DOMAIN: `http://127.0.0.1:${inject('accessPort')}`,
                ACCESS_AUD: ACCESS_AUD,
              },
            },
          })),
        ],
        test: { name: 'control', include: ['test/admin/**/*.test.ts', 'test/control/**/*.test.ts', 'test/dashboard/**/*.test.ts'] },
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
