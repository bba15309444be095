/**
 * @module
 * The project's own wrangler, and running it in the foreground for the npm
 * scripts that drive both workers (deploy, types).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** Its CLI script (the package's `exports` hide bin/, so by path). */
export const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')

/** Runs wrangler with this process's Node (the pinned 24 under npm scripts), output shown; returns its exit code. */
export function runWrangler(args: string[]): number {
  return spawnSync(process.execPath, [WRANGLER, ...args], { cwd: ROOT, stdio: 'inherit' }).status ?? 1
}
