import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stripCookies } from '../../src/edge/proxy.ts'

/** What stripCookies must return, written the plain way: split on ';', trim, drop empties and the named, join. */
function reference(header: string, names: readonly string[]): string | null {
  if (!names.some((n) => header.includes(n))) return header
  const kept = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '' && !names.includes(p.slice(0, p.indexOf('=') >>> 0).trim()))
  return kept.length ? kept.join('; ') : null
}

describe('stripCookies', () => {
  it('removes Sluice’s cookies and keeps the others', () => {
    expect(stripCookies('_ga=GA1.1; theme=dark; sluice=abc; session=x', ['sluice', 'sluice_pin'])).toBe('_ga=GA1.1; theme=dark; session=x')
    expect(stripCookies('sluice=abc; sluice_pin=canary', ['sluice', 'sluice_pin'])).toBeNull()
    expect(stripCookies('theme=dark', ['sluice'])).toBe('theme=dark')
    expect(stripCookies('sluicex=1;  theme = dark ;;', ['sluice'])).toBe('sluicex=1; theme = dark')
  })

  it('agrees with split, filter and join on any header', () => {
    const piece = fc.constantFrom('sluice', 'sluice_pin', 'theme', '=', ';', ' ', '\t', 'a', '1', '"', '\u00a0')
    const header = fc.array(piece, { maxLength: 24 }).map((xs) => xs.join(''))
    fc.assert(
      fc.property(header, fc.subarray(['sluice', 'sluice_pin', 'theme']), (h, names) => {
        expect(stripCookies(h, names)).toBe(reference(h, names))
      }),
      { numRuns: 2000 },
    )
  })
})
