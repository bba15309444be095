/**
 * @module
 * A loopback stand-in for a Cloudflare Access team domain: a fresh RSA key pair
 * whose public half is served at `/cdn-cgi/access/certs` in Access's format
 * (`{ keys: [...], public_cert, public_certs }`, we serve `keys`).
 */
import { type JsonWebKey, generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export const ACCESS_KID = 'test-key-1'

export async function startAccess() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pub = { ...publicKey.export({ format: 'jwk' }), kid: ACCESS_KID, alg: 'RS256', use: 'sig' }
  const privateJwk: JsonWebKey = { ...privateKey.export({ format: 'jwk' }), kid: ACCESS_KID, alg: 'RS256' }
  const server = createServer((req, res) => {
    if (req.url === '/cdn-cgi/access/certs') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ keys: [pub] }))
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    privateJwk,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
