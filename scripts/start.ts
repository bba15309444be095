/**
 * @module
 * `npm start`: Sluice end to end on this machine, no Cloudflare account needed.
 * Two demo origins, Sluice's two workers under `wrangler dev` with the controller running
 * every few seconds, and a demo rollout to drive from the dashboard or the CLI.
 * Each is its own process, restarted if it dies; Ctrl-C stops everything it started.
 */
import { parseArgs } from 'node:util'
import { startStack } from './lib/stack.ts'

/** The control worker's documented secrets and vars besides the admin token (README, Deploy step 5), passed on when set. */
const CONTROL_SETTINGS = ['SLUICE_TOKENS', 'ACCESS_TEAM_DOMAIN', 'ACCESS_AUD', 'AE_ACCOUNT_ID', 'AE_API_TOKEN']

const { values } = parseArgs({
  options: {
    'canary-error-rate': { type: 'string', default: process.env.CANARY_ERROR_RATE ?? '0' },
    'canary-latency-ms': { type: 'string', default: process.env.CANARY_LATENCY_MS ?? '0' },
    'stable-port': { type: 'string', default: process.env.STABLE_PORT ?? '8081' },
    'canary-port': { type: 'string', default: process.env.CANARY_PORT ?? '8082' },
    'tick-seconds': { type: 'string', default: '5' },
    persist: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

if (values.help) {
  console.log(`usage: npm start -- [--canary-error-rate 0.05] [--canary-latency-ms 200] [--persist]
env: PORT (8787), STABLE_PORT (8081), CANARY_PORT (8082), SLUICE_ADMIN_TOKEN (local-admin-token),
     CANARY_ERROR_RATE, CANARY_LATENCY_MS; for the control worker, when set: ${CONTROL_SETTINGS.join(', ')}`)
  process.exit(0)
}

const port = Number(process.env.PORT ?? 8787)
const token = process.env.SLUICE_ADMIN_TOKEN ?? 'local-admin-token'
console.log('Starting Sluice locally (first start compiles the worker; give it a few seconds)…')
const stack = await startStack({
  port,
  token,
  secrets: Object.fromEntries(CONTROL_SETTINGS.flatMap((key) => (process.env[key] ? [[key, process.env[key]]] : []))),
  stablePort: Number(values['stable-port']),
  canaryPort: Number(values['canary-port']),
  canaryErrorRate: Number(values['canary-error-rate']),
  canaryLatencyMs: Number(values['canary-latency-ms']),
  tickSeconds: Number(values['tick-seconds']),
  ...(values.persist ? { persistTo: '.wrangler/state' } : {}),
})
const site = stack.url.replace('127.0.0.1', 'localhost')
const canary = await stack.canary.configure()

console.log(`
  Sluice is running.

  Site        ${site}/
  Dashboard   ${site}/__sluice/
  Admin API   ${site}/__sluice/api/openapi.json
  Admin token ${token}

  Stable origin ${stack.stable.url}   (v1, pid ${stack.stable.pid})
  Canary origin ${stack.canary.url}   (v2, pid ${stack.canary.pid}, error rate ${canary.errorRate}, +${canary.latencyMs} ms)
  Wrangler      pid ${stack.wrangler.pid}

  Try:
    npm run sluice -- start demo --release v2          # SLUICE_TOKEN=${token} SLUICE_URL=${site}
    npm run traffic -- --rps 30 --duration 300
    curl -X POST ${stack.canary.url}/__demo/config -d '{"errorRate":0.2}'   # make the canary bad
    curl -X POST ${stack.canary.url}/__demo/config -d '{"jsErrorRate":0.5}' # its pages throw, every answer 200: browse ${site} in a few private windows
    kill -9 ${stack.canary.pid}                         # crash the canary: it is restarted (new pid), settings kept
    kill -STOP ${stack.canary.pid}  /  kill -CONT ${stack.canary.pid}   # hold the canary down (it stops answering) / let it go

  Ctrl-C stops everything.
`)

let stopping = false
const shutdown = async (signal: string) => {
  if (stopping) return
  stopping = true
  console.log(`\n${signal}: stopping…`)
  await stack.stop()
  process.exit(0)
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))
