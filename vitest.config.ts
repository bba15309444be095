import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          STABLE_ORIGIN: `http://127.0.0.1:${inject('stablePort')}`,
          CANARY_ORIGIN: `http://127.0.0.1:${inject('canaryPort')}`,
        },
      },
    })),
  ],
  test: {
    globalSetup: ['./test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
  },
})
