/**
 * @module
 * Starts the loopback origins once for the whole test run and hands their
 * ports to the workers (see vitest.config.ts) and to tests (`inject`).
 */
import type { JsonWebKey } from 'node:crypto'
import type { TestProject } from 'vitest/node'
import { startAccess } from './access-server.ts'
import { startFakeServices } from './fake-services.ts'
import { startShadowOrigins } from './shadow-origin.ts'
import { deadPort, startOrigin } from '../../lib/origin-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    stablePort: number
    canaryPort: number
    deadPort: number
    /** A Cloudflare Access look-alike serving the team's public keys at /cdn-cgi/access/certs. */
    accessPort: number
    /** The matching private key (JWK), for tests to sign assertions with. */
    accessPrivateJwk: JsonWebKey
    /** The fake Analytics Engine SQL API and webhook receiver (fake-services.ts). */
    servicesPort: number
  }
}

export default async function setup(project: TestProject) {
  const stable = await startOrigin('stable')
  const canary = await startOrigin('canary')
  project.provide('stablePort', stable.port)
  project.provide('canaryPort', canary.port)
  project.provide('deadPort', await deadPort())
  const access = await startAccess()
  project.provide('accessPort', access.port)
  project.provide('accessPrivateJwk', access.privateJwk)
  const services = await startFakeServices()
  project.provide('servicesPort', services.port)
  const shadow = await startShadowOrigins()
  project.provide('shadowStablePort', shadow.stablePort)
  project.provide('shadowCanaryPort', shadow.canaryPort)
  return async () => {
    await shadow.close()
    await services.close()
    await access.close()
    await stable.close()
    await canary.close()
  }
}
