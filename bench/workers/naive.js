/**
 * @module
 * The contrast: a splitter written the obvious way, reading the canary weight
 * from KV on every request. `/__naive/reads` reports how many reads it made,
 * so the benchmark can compare KV traffic with Sluice's.
 */
let kvReads = 0

/** djb2: nothing fancy, which is the point. */
function hash(s) {
  let h = 5381
  for (let i = 0; i < s.length; i++) h = ((h << 5) + h + s.charCodeAt(i)) | 0
  return h >>> 0
}

export default {
  /** @param {Request} request @param {{ KV: KVNamespace, STABLE_ORIGIN: string, CANARY_ORIGIN: string }} env */
  async fetch(request, env) {
    const url = new URL(request.url)
    if (url.pathname === '/__naive/reads') return Response.json({ kvReads })
    kvReads++
    const weight = Number(await env.KV.get('weight'))
    const id = /(?:^|;\s*)sluice=([^;]*)/.exec(request.headers.get('cookie') ?? '')?.[1] ?? String(Math.random())
    const origin = hash(id) % 100 < weight ? env.CANARY_ORIGIN : env.STABLE_ORIGIN
    return fetch(origin + url.pathname + url.search, request)
  },
}
