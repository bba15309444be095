/**
 * @module
 * The dashboard's browser code. It runs in the page, not in the worker: the
 * worker serves these functions' own source text (see `../script.ts`), so the
 * client is TypeScript that is type-checked and unit-tested like the rest,
 * with no build step of its own. One file per part: `dom`, `format`,
 * `status` (the status view), `rings` (audience rings in it), `rum` (a
 * decision's figures per cohort in it: server, 4xx, real-user), `diff` (a
 * shadow step's diff report), `chart`, `api`, `app`, and `state` (the app's
 * state, a type).
 *
 * Serving source text sets four rules for every part:
 * - every function is a top-level `export function`: the served script is the
 *   list of the parts' exports, so an unexported helper would be missing;
 * - no top-level constants and no runtime imports (`import type` only), not
 *   even between the parts: the served script has no modules, and a bundler
 *   or test runner rewrites what a module imports;
 * - a part calls another part's functions by their plain names, declared for
 *   the type checker (`declare const h: typeof Dom.h`); the served script
 *   defines every exported name, and the unit tests make them global;
 * - browser globals are reached through `page()` (that is, `globalThis`), so a
 *   test can run the served script against a fake page.
 *
 * Safety: values from the API only ever become text nodes (strings passed to
 * `append`) or attribute values (`setAttribute`); nothing is parsed as HTML.
 */
export * from './api.ts'
export * from './app.ts'
export * from './chart.ts'
export * from './diff.ts'
export * from './dom.ts'
export * from './format.ts'
export * from './rings.ts'
export * from './rum.ts'
export * from './state.ts'
export * from './status.ts'
