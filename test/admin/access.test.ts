import { sign } from 'hono/utils/jwt/jwt'
import { describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import { call } from '../support/admin.ts'
import { ACCESS_AUD } from '../support/tokens.ts'

const team = () => `http://127.0.0.1:${inject('accessPort')}`

async function assertion(claims: Record<string, unknown> = {}, key = inject('accessPrivateJwk') as JsonWebKey) {
  const now = Math.floor(Date.now() / 1000)
  return sign({ iss: team(), aud: [ACCESS_AUD], email: 'ops@example.com', sub: 'user-1', iat: now, nbf: now, exp: now + 300, ...claims }, key, 'RS256')
}

const withAccess = async (jwt: string, method = 'GET', path = '/rollouts') =>
  call(path, { token: null, method, headers: { 'cf-access-jwt-assertion': jwt }, ...(method === 'PUT' ? { body: {} } : {}) })

describe('Cloudflare Access', () => {
  it('accepts an assertion signed by the team key for our audience', async () => {
    expect((await withAccess(await assertion())).status).toBe(200)
  })

  it('records the Access identity as the actor', async () => {
    const jwt = await assertion()
    const put = await call('/rollouts/access-made', {
      token: null,
      method: 'PUT',
      headers: { 'cf-access-jwt-assertion': jwt },
      body: { stable: 'https://a.example.com', canary: 'https://b.example.com' },
    })
    expect(put.status).toBe(201)
    const h = (await (await withAccess(jwt, 'GET', '/rollouts/access-made/history')).json()) as { entries: { actor: { name: string } }[] }
    expect(h.entries[0]!.actor.name).toBe('ops@example.com')
  })

  it('refuses cross-site writes, which an Access session cookie would otherwise allow', async () => {
    const jwt = await assertion()
    const forged = await call('/rollouts/access-made/rollback', {
      token: null,
      method: 'POST',
      headers: {
        'cf-access-jwt-assertion': jwt,
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
        'content-type': 'application/x-www-form-urlencoded',
      },
    })
    expect(forged.status).toBe(403)
    const sameSite = await call('/rollouts/access-made/rollback', {
      token: null,
      method: 'POST',
      headers: { 'cf-access-jwt-assertion': jwt, origin: 'https://shop.example.com', 'sec-fetch-site': 'same-origin' },
    })
    expect(sameSite.status).toBe(200)
  })

  it('refuses a wrong audience, a wrong issuer, an expired assertion and a foreign key', async () => {
    const now = Math.floor(Date.now() / 1000)
    const foreign = (await crypto.subtle.exportKey(
      'jwk',
      (
        (await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, [
          'sign',
          'verify',
        ])) as CryptoKeyPair
      ).privateKey,
    )) as JsonWebKey
    for (const jwt of [
      await assertion({ aud: ['someone-else'] }),
      await assertion({ iss: 'https://evil.cloudflareaccess.com' }),
      await assertion({ exp: now - 60, iat: now - 600, nbf: now - 600 }),
      await assertion({}, { ...foreign, kid: 'test-key-1', alg: 'RS256' } as JsonWebKey),
      'not.a.jwt',
    ]) {
      const res = await withAccess(jwt)
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
    }
  })
})
