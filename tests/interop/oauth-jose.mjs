// oauth-jose.mjs - checks atcr::oauth's JOSE output with `jose` (the library
// @atproto/oauth-provider verifies DPoP proofs and client assertions with):
//   - the DPoP proof: typ dpop+jwt, ES256, signed by the key in its own
//     header (EmbeddedJWK), htm/htu (no query)/nonce/ath/jti/iat right;
//   - the client metadata's jwks: a public ES256 key with a kid;
//   - the client assertion: verifies against that jwks, iss = sub =
//     client_id, aud = the authorization server, a jti and a short life.
//   node oauth-jose.mjs <oauth_jose_tool>
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import assert from 'node:assert/strict'

const modules = process.env.ATCR_BROWSER_NODE_PATH
if (!modules) throw new Error('ATCR_BROWSER_NODE_PATH is not set (eval "$(bash scripts/node-tools.sh)")')
const jose = createRequire(path.join(modules, 'noop.js'))('jose')

const out = JSON.parse(execFileSync(process.argv[2], { encoding: 'utf8' }))
let checks = 0
const ok = (what) => { checks++; console.log(`PASS  ${what}`) }

// DPoP proof (RFC 9449 section 4.3)
{
  const { payload, protectedHeader } = await jose.jwtVerify(out.proof, jose.EmbeddedJWK, {
    typ: 'dpop+jwt', algorithms: ['ES256'], maxTokenAge: 60, clockTolerance: 5,
  })
  assert.equal(protectedHeader.jwk.kty, 'EC')
  assert.equal(protectedHeader.jwk.crv, 'P-256')
  assert.equal(protectedHeader.jwk.d, undefined)
  ok('DPoP proof verifies with its embedded JWK (typ, alg, age)')
  assert.equal(payload.htm, 'POST')
  assert.equal(payload.htu, out.url)
  assert.equal(payload.nonce, out.nonce)
  assert.equal(payload.ath, out.ath)
  const expectedAth = jose.base64url.encode(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(out.access_token))))
  assert.equal(payload.ath, expectedAth)
  assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16)
  ok('DPoP claims: htm, htu without query, nonce, ath = b64url(sha256(token)), jti')
  const thumb = await jose.calculateJwkThumbprint(protectedHeader.jwk)
  assert.ok(thumb.length === 43)
  ok('DPoP key has an RFC 7638 thumbprint (the cnf.jkt a server binds tokens to)')
}

// Client metadata and assertion (RFC 7523, atproto OAuth confidential client)
{
  const m = out.metadata
  assert.equal(m.token_endpoint_auth_method, 'private_key_jwt')
  assert.equal(m.token_endpoint_auth_signing_alg, 'ES256')
  assert.equal(m.dpop_bound_access_tokens, true)
  assert.deepEqual(m.grant_types, ['authorization_code', 'refresh_token'])
  assert.ok(m.scope.split(' ').includes('atproto'))
  assert.equal(m.jwks.keys.length, 1)
  const key = m.jwks.keys[0]
  assert.ok(key.kid && key.alg === 'ES256' && key.use === 'sig' && key.d === undefined)
  await jose.importJWK(key, 'ES256')
  ok('client metadata: private_key_jwt, ES256, one public signing key with kid')

  const { payload, protectedHeader } = await jose.jwtVerify(out.assertion, jose.createLocalJWKSet(m.jwks), {
    issuer: m.client_id, subject: m.client_id, audience: out.audience, algorithms: ['ES256'],
    maxTokenAge: 60, requiredClaims: ['jti', 'iat', 'exp'],
  })
  assert.equal(protectedHeader.kid, key.kid)
  assert.ok(payload.exp - payload.iat <= 60)
  ok('client assertion verifies against the published jwks (iss, sub, aud, jti, iat, exp)')
}
console.log(`oauth jose: ${checks} checks passed`)
