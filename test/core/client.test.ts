import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clientAddress, clientKey } from '../../src/core/cohort/client.ts'

describe('client key', () => {
  it('counts IPv4 by address and IPv6 by its /64, however the address is written', () => {
    expect(clientAddress('203.0.113.7')).toBe('203.0.113.7')
    expect(clientAddress('::ffff:203.0.113.7')).toBe('203.0.113.7')
    for (const ip of ['2001:db8:1:2::1', '2001:0db8:0001:0002:0000:0000:0000:0001', '2001:DB8:1:2:ffff:1:2:3', '2001:db8:1:2:aaaa::']) {
      expect(clientAddress(ip), ip).toBe('2001:db8:1:2')
    }
    expect(clientAddress('2001:db8::5')).toBe('2001:db8:0:0')
    expect(clientAddress('::1')).toBe('0:0:0:0')
    expect(clientKey('2001:db8:1:2::1')).toBe(clientKey('2001:db8:1:2:9:9:9:9'))
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'))
  })

  it('is six hex digits, and never throws on any header value', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6()), (ip) => {
        expect(clientKey(ip)).toMatch(/^[0-9a-f]{6}$/)
      }),
    )
  })

  it('spreads addresses evenly enough that a window of clients rarely shares a key', () => {
    const keys = new Set(Array.from({ length: 10_000 }, (_, i) => clientKey(`198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)))
    // 24 bits: about 3 colliding pairs are expected among 10,000 addresses.
    expect(keys.size).toBeGreaterThan(9_980)
  })
})
