/**
 * @module
 * The cheapest proxy that is as transparent as Sluice must be: the request's
 * headers copied and the ones the origin must see set (cohort,
 * X-Forwarded-Host/Proto/For), `redirect: "manual"`, and the response
 * re-wrapped to add the cohort header. No config, cohort choice, metrics,
 * timeout or failover. bare -> floor is what this runtime charges for touching
 * headers at all; floor -> sluice is Sluice's own work.
 */
export default {
  /** @param {Request} request @param {{ ORIGIN: string }} env */
  async fetch(request, env) {
    const url = new URL(request.url)
    const headers = new Headers(request.headers)
    headers.set('x-sluice-cohort', 'stable')
    headers.set('x-forwarded-host', url.host)
    headers.set('x-forwarded-proto', url.protocol.slice(0, -1))
    headers.set('x-forwarded-for', request.headers.get('cf-connecting-ip') ?? '')
    const res = await fetch(env.ORIGIN + url.pathname + url.search, { method: request.method, headers, body: request.body, redirect: 'manual' })
    const out = new Response(res.body, res)
    out.headers.append('x-sluice-cohort', 'stable')
    return out
  },
}
