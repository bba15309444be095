// Lets `exports.default` from `cloudflare:workers` be typed as the worker under test.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import('../../src/index.ts')
  }
}
