/**
 * @module
 * The RUM script's build (scripts/rum.ts): the committed src/edge/rum/script.generated.ts is what the build
 * makes now, it holds its budget of 4 KiB gzip (measured here, not taken from the build's word), and none of
 * zod got into it. What the script does in a browser is test/e2e/rum-script.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { RUM_SCRIPT, RUM_SCRIPT_HASH } from '../../src/edge/rum/script.generated.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const NODE = join(ROOT, 'node_modules/.bin/node')

describe('the RUM script build', () => {
  it('is up to date: `node scripts/rum.ts --check` passes and reports the size it measured', () => {
    const r = spawnSync(NODE, [join(ROOT, 'scripts/rum.ts'), '--check'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const gzip = /(\d+) bytes gzip/.exec(r.stdout)
    expect(gzip, r.stdout).not.toBeNull()
    expect(Number(gzip![1])).toBe(gzipSync(RUM_SCRIPT).byteLength)
  })

  it('keeps its budget of 4096 bytes gzip, web-vitals included', () => {
    expect(RUM_SCRIPT.length).toBeGreaterThan(5000)
    expect(RUM_SCRIPT).toContain('largest-contentful-paint')
    expect(gzipSync(RUM_SCRIPT).byteLength).toBeLessThanOrEqual(4096)
  })

  it('bundles no zod, reads no cookie, and is one script that parses', () => {
    expect(RUM_SCRIPT).not.toMatch(/zod/i)
    expect(RUM_SCRIPT).not.toContain('cookie')
    expect(() => new Function(RUM_SCRIPT)).not.toThrow()
  })

  it('is named by the first 12 hex digits of its SHA-256, as the edge versions its URL', () => {
    expect(RUM_SCRIPT_HASH).toBe(createHash('sha256').update(RUM_SCRIPT).digest('hex').slice(0, 12))
  })
})
