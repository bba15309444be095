/**
 * @module
 * `npm run sluice -- <command>`: the operator's CLI for the admin API
 * (`sluice --help` lists the commands and exit codes; the code is in cli/).
 *
 * Node's compile cache is switched on before the CLI is loaded: it keeps the
 * type-stripped and compiled modules (zod included) between runs, which cuts
 * a command's start-up roughly in half; scripts call the CLI in loops.
 */
import { enableCompileCache } from 'node:module'

enableCompileCache?.()
const { main } = await import('./cli/main.ts')
const io = { out: (t: string) => process.stdout.write(`${t}\n`), err: (t: string) => process.stderr.write(`${t}\n`) }
// exitCode, not exit(): let piped stdout drain.
process.exitCode = await main(process.argv.slice(2), process.env, io)
