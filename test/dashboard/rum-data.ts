/**
 * @module
 * A decision's data as the controller writes it for a rollout with real-user signals (`judgeSignals` in
 * src/core/judge/signals.ts adds `clientErrors`, `rum` and their numbers to the server's), for the tests of the
 * dashboard (test/dashboard/rum.test.ts) and of the CLI's status text (test/node/format.test.ts). Plain data: it
 * imports nothing, so both the workerd and the node projects can load it.
 */

/** The server's numbers for the window, as the judge writes them (a few of them). */
export const serverNumbers = {
  windowStableRequests: 900,
  windowStableErrors: 3,
  windowCanaryRequests: 100,
  windowCanaryErrors: 2,
  latencyStable: 110.4,
  latencyCanary: 152,
}

/** The signals' numbers beside the server's. */
export const numbersWithRum = {
  ...serverNumbers,
  pageViewsStable: 1200,
  pageViewsCanary: 130,
  pageViewErrorRateStable: 0.005,
  pageViewErrorRateCanary: 4 / 130,
  lcpStable: 2100,
  lcpCanary: 2900,
}

/** `data.rum`: the canary's first error, new in canary, is `firstError`; its second is one stable shows too. */
export const rumOf = (firstError: string) => ({
  injection: { stable: { injected: 400, csp: 0 }, canary: { injected: 36, csp: 4 } },
  window: { stable: { pageViews: 1200, errored: 6 }, canary: { pageViews: 130, errored: 4 } },
  pageViews: { stable: 5400, canary: 610 },
  vitals: {
    stable: { lcp: { p75: 2100, n: 900 }, inp: { p75: 180, n: 700 }, cls: { p75: 0.05, n: 900 } },
    canary: { lcp: { p75: 2900, n: 100 }, inp: { p75: 520, n: 80 } },
  },
  canaryErrors: [
    { fingerprint: firstError, clients: 37, newInCanary: true },
    { fingerprint: 'ReferenceError: gtag is not defined at /vendor.js:1', clients: 1, newInCanary: false },
  ],
  stableErrors: [{ fingerprint: 'ReferenceError: gtag is not defined at /vendor.js:1', clients: 41 }],
})

/** The 4xx test's counts for the window. */
export const clientErrors = { stable: { requests: 900, errors: 12 }, canary: { requests: 100, errors: 5 } }
