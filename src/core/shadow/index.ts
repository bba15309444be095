/**
 * @module
 * Shadow traffic's pure core, as the edge, the controller and the report read it: what is compared (answer.ts), how
 * a difference is named (fields.ts), the comparison (diff.ts), the route it is counted under (route.ts), and what a
 * window and a report hold (window.ts, report.ts).
 *
 * The judge (judge.ts), the shadow step's decision (decide.ts) and the report's builder (report-build.ts) are the
 * control worker's and are imported by path, not from here: the edge imports this file, and its bundle must not
 * carry the judge's schema (bench/RESULTS.md, edge bundle).
 */
export * from './answer.ts'
export * from './diff.ts'
export * from './fields.ts'
export * from './report.ts'
export * from './route.ts'
export * from './window.ts'
