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

/** The /64 of an IPv6 address (the first four groups, zero-filled), or null if it is not IPv6. */
function ipv6Prefix(ip: string): string | null {
  const double = ip.indexOf('::')
  const head = (double === -1 ? ip : ip.slice(0, double)).split(':')
  if (double !== -1) {
    if (head[0] === '') head.length = 0
    // Only the groups before '::' can belong to the /64; the rest are zeros up to it, or interface bits.
    while (head.length < 4) head.push('0')
  }
  if (head.length < 4) return null
  return head
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')
}

/** The address a client is counted by: IPv4 as is (also when mapped into IPv6), IPv6 by its /64. */
export function clientAddress(ip: string): string {
  if (!ip.includes(':')) return ip
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  if (mapped) return mapped[1]!
  return ipv6Prefix(ip) ?? ip
}

/** Six hex digits identifying the client in a window's data (see the module comment for why 24 bits). */
export function clientKey(ip: string): string {
  return (murmur3(clientAddress(ip), SEED) & 0xffffff).toString(16).padStart(6, '0')
}
