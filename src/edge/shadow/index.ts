/**
 * @module
 * Shadow traffic at the edge: a share of visitors' safe requests mirrored to the canary while stable answers them,
 * the two answers compared in the background (mirror.ts) from at most `shadow.maxBodyBytes` of each body
 * (capture.ts), within per-isolate budgets (budget.ts). See "Shadow traffic" in the README.
 */
export { shadowBudget } from './budget.ts'
export { type Mirrored, mirrorable, shadowed } from './mirror.ts'
