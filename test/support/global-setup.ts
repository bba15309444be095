/**
 * @module
 * Starts the loopback origins once for the whole test run and hands their
 * ports to the workers (see vitest.config.ts) and to tests (`inject`).
 */
import type { TestProject } from 'vitest/node'
import { deadPort, startOrigin } from './origin-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    stablePort: number
    canaryPort: number
    deadPort: number
  }
}

export default async function setup(project: TestProject) {
  const stable = await startOrigin('stable')
  const canary = await startOrigin('canary')
  project.provide('stablePort', stable.port)
  project.provide('canaryPort', canary.port)
  project.provide('deadPort', await deadPort())
  return async () => {
    await stable.close()
    await canary.close()
  }
}
