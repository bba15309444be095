/**
 * The layering of the code, checked by `npm run check:deps` (part of `npm test`). See "Layering" in the README.
 *
 *   src/core       pure logic: imports nothing else of src (no Workers APIs, no Node)
 *   src/contract   what the workers and their clients exchange: core and itself
 *   src/shared     helpers both workers use: core, contract and itself
 *   src/edge, src/control, src/admin, src/dashboard
 *                  core, contract, shared and themselves, never each other
 *   src/workers    the two deployables: wires all of the above
 *   src/rum        the browser's RUM script (built into src/edge/rum/script.generated.ts): the contract and web-vitals only
 *   lib/           what test/ and bench/ share: imports neither (nor scripts/)
 *
 * Core may not import contract: the contract is built on core's types, so the other way round would be a cycle.
 * Nothing in src imports test/, bench/, scripts/ or lib/; bench/ and scripts/ never import test/.
 */
const FEATURES = '(edge|control|dashboard)'
/**
 * The admin API is the coordinator's HTTP front, so it may reach it through its RPC stub (client.ts); the write
 * types it answers with are the contract's. Nothing else of src/control, and no other feature gets this.
 */
const ADMIN_TO_COORDINATOR = ['^src/control/client\\.ts$']

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-is-pure',
      comment: 'src/core is pure logic: nothing else of the project, no Node or Workers runtime modules',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/(?!core/)|^cloudflare:' },
    },
    {
      name: 'core-no-node',
      comment: 'src/core runs in both workers and in Node: no Node built-ins',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'contract-on-core',
      comment: 'src/contract may build on core only',
      severity: 'error',
      from: { path: '^src/contract/' },
      to: { path: '^src/', pathNot: '^src/(contract|core)/' },
    },
    {
      name: 'shared-on-core-contract',
      comment: 'src/shared may use core and contract only',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/', pathNot: '^src/(shared|core|contract)/' },
    },
    {
      name: 'features-apart',
      comment: 'edge, control, admin and dashboard use core, contract and shared, never each other; src/workers wires them',
      severity: 'error',
      from: { path: `^src/${FEATURES}/` },
      to: { path: '^src/', pathNot: ['^src/$1/', '^src/(core|contract|shared)/'] },
    },
    {
      name: 'rum-script-apart',
      comment: 'the RUM script runs in visitors’ browsers under a 4 KiB budget: the contract (types and limits) and web-vitals, nothing else',
      severity: 'error',
      from: { path: '^src/rum/' },
      to: { pathNot: ['^src/(rum|contract)/', 'node_modules/web-vitals/'] },
    },
    {
      name: 'admin-apart',
      comment: 'the admin API as features-apart, but for its way to the coordinator (ADMIN_TO_COORDINATOR)',
      severity: 'error',
      from: { path: '^src/admin/' },
      to: { path: '^src/', pathNot: ['^src/admin/', '^src/(core|contract|shared)/', ...ADMIN_TO_COORDINATOR] },
    },
    {
      name: 'src-is-self-contained',
      comment: 'deployed code never imports tests, benchmarks, scripts or their helpers',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts|lib)/' },
    },
    {
      name: 'tools-not-on-tests',
      comment: 'bench/, scripts/ and lib/ never import test/: what both need lives in lib/',
      severity: 'error',
      from: { path: '^(bench|scripts|lib)/' },
      to: { path: '^test/' },
    },
    {
      name: 'lib-is-a-leaf',
      comment: 'lib/ is shared by test/ and bench/, so it imports neither, nor scripts/',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(bench|scripts)/' },
    },
    {
      name: 'scripts-not-on-bench',
      comment: 'bench/ builds on scripts/ (the wrangler lookup), so scripts/ never imports bench/',
      severity: 'error',
      from: { path: '^scripts/' },
      to: { path: '^bench/' },
    },
    {
      name: 'no-circular',
      comment: 'a cycle makes the load order, and so what a module sees of another at load time, depend on the entry point',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    // TypeScript 7 has no JavaScript API for dependency-cruiser's own TS parser, so swc parses. swc keeps
    // `import type` lines, so a type-only import may cross a layer no more than a runtime one.
    parser: 'swc',
    // swc, as dependency-cruiser calls it, cannot parse JSX: the two .tsx files (src/dashboard/index.tsx and
    // page.tsx, which import only hono and src/dashboard) are listed but not read.
    doNotFollow: { path: ['node_modules', '\\.tsx$'] },
    exclude: { path: ['^bench/out/', '^\\.wrangler/'] },
    moduleSystems: ['es6'],
  },
}
