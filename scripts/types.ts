/**
 * @module
 * `npm run types`: generates the two workers' env types with `wrangler types`,
 * `EdgeEnv` (wrangler.toml, with the control worker's RPC methods on its
 * CONTROL binding) and `ControlEnv` (wrangler.control.toml). `--check` fails
 * if either file is stale instead of writing it (`npm test` runs that).
 */
import { runWrangler } from './lib/wrangler.ts'

const RUNS = [
  ['-c', 'wrangler.toml', '-c', 'wrangler.control.toml', '--env-interface', 'EdgeEnv', 'worker-configuration.d.ts'],
  ['-c', 'wrangler.control.toml', '--env-interface', 'ControlEnv', 'worker-configuration.control.d.ts'],
]
const check = process.argv.includes('--check') ? ['--check'] : []

for (const run of RUNS) {
  const status = runWrangler(['types', '--include-runtime=false', '--strict-vars=false', ...check, ...run])
  if (status !== 0) process.exit(status)
}
