// Lets `exports.default` from `cloudflare:workers` be typed as a worker under test: the control worker, whose
// entrypoint has the richer type; the edge tests only call its `fetch`.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import('../../src/workers/control.ts')
  }
}
