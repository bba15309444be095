/**
 * @module
 * The floor: forwards every request to the origin and returns its answer,
 * nothing else. Whatever this costs, every gateway on this runtime pays.
 */
export default {
  /** @param {Request} request @param {{ ORIGIN: string }} env */
  fetch(request, env) {
    const url = new URL(request.url)
    return fetch(env.ORIGIN + url.pathname + url.search, request)
  },
}
