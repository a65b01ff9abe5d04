#!/usr/bin/env node
// verify-jwt.mjs - the reference verifier of service-auth JWTs
// (@atproto/xrpc-server's verifyJwt, as a PDS, AppView or labeler runs it),
// for the integration tests: tokens minted by libatcr must pass it.
//
// Run with Node >= 22 and NODE_PATH pointing at the node_modules that
// scripts/node-tools.sh installs:
//   "$ATCR_NODE" tests/integration/verify-jwt.mjs <cases.json>
//
// cases.json: [{"token": "<jwt>", "aud": "<service DID>" | null,
//               "lxm": "<NSID>" | null, "key": "did:key:..."}, ...]
// aud/lxm null skip that check, as in verifyJwt. The key resolver answers
// every issuer with the case's did:key (the tests' own key, no network).
// stdout: one JSON line, an array with one result per case, in order:
//   {"ok": true, "payload": {...}}  or  {"ok": false, "error": "BadJwtAudience", "message": "..."}
// Exit 0 when every case was run (whatever the verdicts), 1 on an internal
// error, 2 on bad usage.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

process.env.LOG_ENABLED = 'false' // @atproto/common's pino logger must not write to stdout

const require = createRequire(import.meta.url)

// The packages live outside the source tree; resolve them through NODE_PATH
// (CommonJS resolution honours it, ESM `import` does not) and import by path.
async function load(name) {
  let path
  try {
    path = require.resolve(name)
  } catch (err) {
    throw new Error(`cannot find ${name} (NODE_PATH=${process.env.NODE_PATH ?? ''}); ` +
      'run scripts/node-tools.sh and use the NODE_PATH it prints')
  }
  return import(pathToFileURL(path).href)
}

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: verify-jwt.mjs <cases.json>\n')
    process.exit(2)
  }
  const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'))
  if (!Array.isArray(cases)) throw new Error('cases.json must hold an array')
  const { verifyJwt } = await load('@atproto/xrpc-server')
  const results = []
  for (const c of cases) {
    const getSigningKey = async () => c.key
    try {
      const payload = await verifyJwt(c.token, c.aud ?? null, c.lxm ?? null, getSigningKey)
      results.push({ ok: true, payload })
    } catch (err) {
      // AuthRequiredError carries the XRPC error name (BadJwt, JwtExpired, ...).
      results.push({ ok: false, error: err?.customErrorName ?? err?.error ?? err?.name ?? 'Error',
                     message: String(err?.message ?? err) })
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n')
}

main().catch((err) => {
  process.stderr.write(`verify-jwt: ${err?.stack ?? err}\n`)
  process.exit(1)
})
