/**
 * @module
 * The judge's unit of evidence: a client address, reduced to a short hash.
 *
 * Errors are independent across clients, not within one: one client that
 * keeps failing (or a hostile one that makes the canary fail on purpose,
 * rotating cookies and User-Agents) is one piece of evidence, however many
 * requests it sends. Visitor ids cannot be the unit, because a client chooses
 * its own cookie; the address it cannot choose (Cloudflare sets
 * `CF-Connecting-IP`). IPv4 counts by address, IPv6 by its /64, the block one
 * host or home is given (a host can pick any address inside it).
 *
 * The hash keeps 24 bits: enough that two clients of one window rarely share a
 * value (about 3 pairs among 10,000 clients), few enough that a value stands
 * for about 256 IPv4 addresses, so the metrics never hold a reversible address.
 */
import { murmur3 } from './hash.ts'

/** Distinct from the bucket hash's seed (0), so a client key says nothing about a visitor's bucket. */
const SEED = 0x51c3

/** One group as the /64 is written: lower case, no leading zeros (but at least one digit). */
function group(g: string): string {
  let i = 0
  while (i < g.length - 1 && g.charCodeAt(i) === 48 /* 0 */) i++
  return (i === 0 ? g : g.slice(i)).toLowerCase()
}

/**
 * The /64 of an IPv6 address (the first four groups, zero-filled), or null if it is not IPv6. A scan rather than
 * split, map and a regex per group: this runs on every request from an IPv6 client (a property test checks it
 * against the split form).
 */
function ipv6Prefix(ip: string): string | null {
  const double = ip.indexOf('::')
  // Only the groups before '::' can belong to the /64; the rest are zeros up to it, or interface bits.
  const head = double === -1 ? ip : ip.slice(0, double)
  let prefix = ''
  let groups = 0
  // With '::', a head that is empty or starts with ':' counts as no groups at all.
  if (double === -1 || (head !== '' && !head.startsWith(':'))) {
    for (let start = 0; groups < 4; groups++) {
      const end = head.indexOf(':', start)
      prefix += (groups === 0 ? '' : ':') + group(end === -1 ? head.slice(start) : head.slice(start, end))
      if (end === -1) {
        groups++
        break
      }
      start = end + 1
    }
  }
  if (groups < 4 && double === -1) return null
  for (; groups < 4; groups++) prefix += groups === 0 ? '0' : ':0'
  return prefix
}

const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i

/** The address a client is counted by: IPv4 as is (also when mapped into IPv6), IPv6 by its /64. */
export function clientAddress(ip: string): string {
  if (!ip.includes(':')) return ip
  // Only an address that starts '::' can be a mapped IPv4 one: the others skip the regex.
  const mapped = ip.startsWith('::') ? MAPPED_V4.exec(ip) : null
  if (mapped) return mapped[1]!
  return ipv6Prefix(ip) ?? ip
}

/** Six hex digits identifying the client in a window's data (see the module comment for why 24 bits). */
export function clientKey(ip: string): string {
  return (murmur3(clientAddress(ip), SEED) & 0xffffff).toString(16).padStart(6, '0')
}
