/**
 * @module
 * IPv4 and IPv6 addresses and CIDR ranges as 32-bit words, so that a range
 * test per request is a few integer comparisons. Parsers never throw: an
 * invalid text is null. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are
 * read as IPv4, as a client reaching Sluice over either is the same client.
 */

/** An address: one word for IPv4, four for IPv6 (most significant first). */
export interface Address {
  v: 4 | 6
  words: readonly number[]
}

export interface Cidr extends Address {
  /** Leading bits that must match. */
  prefix: number
}

function parseV4(s: string): number | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  let n = 0
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null
    n = n * 256 + Number(p)
  }
  return n >>> 0
}

function parseV6(text: string): number[] | null {
  const s = text.split('%', 1)[0]!
  const halves = s.split('::')
  if (halves.length > 2) return null
  const groups = (h: string) => (h === '' ? [] : h.split(':'))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const hextets: number[] = []
  const push = (list: string[], last: boolean) => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!
      if (last && i === list.length - 1 && g.includes('.')) {
        const v4 = parseV4(g)
        if (v4 === null) return false
        hextets.push(v4 >>> 16, v4 & 0xffff)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) hextets.push(parseInt(g, 16))
      else return false
    }
    return true
  }
  if (!push(head, halves.length === 1)) return null
  const headCount = hextets.length
  if (!push(tail, true)) return null
  const missing = 8 - hextets.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  hextets.splice(headCount, 0, ...Array<number>(missing).fill(0))
  return [0, 1, 2, 3].map((i) => ((hextets[2 * i]! << 16) | hextets[2 * i + 1]!) >>> 0)
}

/** An address in any of the usual notations, or null. */
export function parseAddress(s: string): Address | null {
  if (!s.includes(':')) {
    const v4 = parseV4(s)
    return v4 === null ? null : { v: 4, words: [v4] }
  }
  const words = parseV6(s)
  if (!words) return null
  // ::ffff:a.b.c.d is an IPv4 client.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return { v: 4, words: [words[3]!] }
  return { v: 6, words }
}

/** `203.0.113.0/24`, `2001:db8::/32`, or a bare address (its whole length), or null. */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/')
  const address = parseAddress(slash === -1 ? s : s.slice(0, slash))
  if (!address) return null
  const max = address.v === 4 ? 32 : 128
  if (slash === -1) return { ...address, prefix: max }
  const bits = s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(bits)) return null
  // A mapped IPv4 range is written in IPv6 bits: ::ffff:192.0.2.0/120 is 192.0.2.0/24.
  const prefix = Number(bits) - (address.v === 4 && s.includes(':') ? 96 : 0)
  return prefix >= 0 && prefix <= max ? { ...address, prefix } : null
}

/** Whether `a` lies in `range`. */
export function inRange(a: Address, range: Cidr): boolean {
  if (a.v !== range.v) return false
  let left = range.prefix
  for (let i = 0; i < range.words.length && left > 0; i++, left -= 32) {
    const bits = Math.min(32, left)
    const mask = bits === 32 ? 0xffffffff : ~(0xffffffff >>> bits) >>> 0
    if (((a.words[i]! ^ range.words[i]!) & mask) >>> 0 !== 0) return false
  }
  return true
}
