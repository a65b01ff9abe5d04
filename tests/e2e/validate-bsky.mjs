// validate-bsky.mjs - the hold's Bluesky records checked against the
// app.bsky.* lexicons @atproto/api ships (its own @atproto/lexicon
// validator): every app.bsky.feed.post and the app.bsky.actor.profile in
// the hold's repo, and each post's link facet (UTF-8 byte offsets) covers
// "<expected name>" and links under APPVIEW_URL. With AVATAR_FILE, the
// profile's avatar is a blob getBlob serves to anyone, byte for byte that
// file, with the blob ref's image type.
//
//   node validate-bsky.mjs HOLD_URL HOLD_DID APPVIEW_URL EXPECTED_NAME [AVATAR_FILE]
//
// Imports resolve through ATCR_BSKY_NODE_PATH (scripts/node-tools.sh).
// Prints one line per record; exits 1 on any failure or when no post names
// EXPECTED_NAME.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(join(process.env.ATCR_BSKY_NODE_PATH || '.', 'noop.js'))
const { lexicons, jsonToLex } = require('@atproto/api')

const [holdUrl, holdDid, appviewUrl, expectedName, avatarFile] = process.argv.slice(2)
if (!expectedName) {
  console.error('usage: validate-bsky.mjs HOLD_URL HOLD_DID APPVIEW_URL EXPECTED_NAME [AVATAR_FILE]')
  process.exit(2)
}

async function listRecords(collection) {
  const url = `${holdUrl}/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(holdDid)}&collection=${collection}&limit=100`
  const r = await fetch(url)
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`)
  return (await r.json()).records
}

let failures = 0
const check = (ok, line) => {
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${line}`)
  if (!ok) failures++
}
function valid(nsid, value) {
  try {
    lexicons.assertValidRecord(nsid, jsonToLex(value))
    return ''
  } catch (e) {
    return e.message
  }
}

let named = 0
for (const r of await listRecords('app.bsky.feed.post')) {
  const problem = valid('app.bsky.feed.post', r.value)
  check(!problem, `${r.uri} valid app.bsky.feed.post ${problem}`)
  for (const facet of r.value.facets || []) {
    const text = Buffer.from(r.value.text, 'utf8')
    const linked = text.subarray(facet.index.byteStart, facet.index.byteEnd).toString('utf8')
    const uri = facet.features[0].uri
    check(uri.startsWith(`${appviewUrl}/r/`), `${r.uri} links ${uri}`)
    if (linked.startsWith(expectedName)) named++
    console.log(`      "${r.value.text}" (link on "${linked}")`)
  }
}
check(named > 0, `a post links "${expectedName}"`)
const profiles = await listRecords('app.bsky.actor.profile')
check(profiles.length === 1 && profiles[0].uri.endsWith('/self'), 'one app.bsky.actor.profile, key self')
for (const p of profiles) {
  const problem = valid('app.bsky.actor.profile', p.value)
  check(!problem, `${p.uri} valid app.bsky.actor.profile (${p.value.displayName}) ${problem}`)
  if (!avatarFile) continue
  const avatar = p.value.avatar
  check(avatar?.$type === 'blob' && avatar.ref?.$link, `${p.uri} has an avatar blob ref`)
  if (!avatar?.ref?.$link) continue
  // Anyone (no credentials) may fetch it: the Bluesky AppView does.
  const r = await fetch(`${holdUrl}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(holdDid)}&cid=${avatar.ref.$link}`)
  const body = Buffer.from(await r.arrayBuffer())
  check(r.status === 200 && body.equals(readFileSync(avatarFile)),
    `getBlob serves the avatar ${avatar.ref.$link} to anyone (${r.status}, ${body.length} bytes)`)
  check(r.headers.get('content-type') === avatar.mimeType && avatar.size === body.length,
    `... as ${r.headers.get('content-type')}, ${avatar.mimeType} ${avatar.size} bytes in the ref`)
}
process.exit(failures ? 1 : 0)
