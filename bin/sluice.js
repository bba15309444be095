#!/usr/bin/env node
/**
 * `npx sluice …` (package.json "bin"). The CLI is TypeScript, which Node runs
 * by type stripping, on by default from Node 22.18 and 23.6. An older Node
 * (the system's Node 20, say, behind a plain `node bin/sluice.js` or a global
 * `npm link`) re-executes it on the Node the project pins,
 * node_modules/.bin/node. Plain JavaScript, so that any Node can read it.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = new URL('../scripts/sluice.ts', import.meta.url)

if (process.features.typescript) {
  await import(cli.href)
} else {
  const pinned = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url))
  if (!existsSync(pinned)) {
    console.error(
      `sluice: Node ${process.version} cannot run the CLI (it needs Node 22.18 or newer); run \`npm install\`, which installs the Node the project pins`,
    )
    process.exit(1)
  }
  const child = spawn(pinned, [fileURLToPath(cli), ...process.argv.slice(2)], { stdio: 'inherit' })
  // A CI runner cancelling a job may signal this process alone; the CLI must hear it too.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => {
    if (signal === null) return void (process.exitCode = code ?? 1)
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  })
}
