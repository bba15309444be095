/**
 * @module
 * Shadow traffic's pure core, as the edge, the controller and the report read it: what is compared (answer.ts), how
 * a difference is named (fields.ts), the comparison (diff.ts), the route it is counted under (route.ts), and what a
 * window and a report hold (window.ts, report.ts).
 */
export * from './answer.ts'
export * from './diff.ts'
export * from './fields.ts'
export * from './report.ts'
export * from './route.ts'
export * from './window.ts'
