import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clientAddress } from '../../src/core/cohort/client.ts'

/** What clientAddress must return, written the plain way (split on ':', normalise each group with a regex). */
function reference(ip: string): string {
  if (!ip.includes(':')) return ip
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  if (mapped) return mapped[1]!
  const double = ip.indexOf('::')
  const head = (double === -1 ? ip : ip.slice(0, double)).split(':')
  if (double !== -1) {
    if (head[0] === '') head.length = 0
    while (head.length < 4) head.push('0')
  }
  if (head.length < 4) return ip
  return head
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')
}

describe('clientAddress', () => {
  it('agrees with the split form on addresses and on anything else a header may hold', () => {
    const piece = fc.constantFrom(':', '::', '0', '00', 'A', 'f', '1', '.', 'ffff', '203.0.113.7', 'x', '')
    const odd = fc.array(piece, { maxLength: 12 }).map((xs) => xs.join(''))
    fc.assert(
      fc.property(fc.oneof(fc.ipV6(), fc.ipV4(), odd, fc.string()), (ip) => {
        expect(clientAddress(ip), ip).toBe(reference(ip))
      }),
      { numRuns: 5000 },
    )
  })
})
