// validate-records.mjs - every io.atcr.* record a user's PDS and a hold's
// repo hold, checked against the published lexicons (tests/fixtures/lexicons)
// with the reference validator (@atproto/lexicon), record key type included
// (tid, any, literal:self; @atproto/syntax).
//
//   node validate-records.mjs LEXICON_DIR PDS_URL USER_DID HOLD_URL HOLD_DID
//
// Prints one line per collection and every failure; exits 1 if any record
// fails or a collection that a push writes is empty. Imports resolve through
// NODE_PATH (scripts/node-tools.sh), like tests/interop's tools.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(join(process.env.NODE_PATH || '.', 'noop.js'))
const { Lexicons, jsonToLex } = require('@atproto/lexicon')
const { isValidTid, isValidRecordKey } = require('@atproto/syntax')

const [lexDir, pdsUrl, userDid, holdUrl, holdDid] = process.argv.slice(2)
if (!holdDid) {
  console.error('usage: validate-records.mjs LEXICON_DIR PDS_URL USER_DID HOLD_URL HOLD_DID')
  process.exit(2)
}

function lexiconFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return lexiconFiles(path)
    return name.endsWith('.json') ? [path] : []
  })
}
const docs = lexiconFiles(lexDir).map((f) => JSON.parse(readFileSync(f, 'utf8')))
const lex = new Lexicons(docs)

function keyProblem(keyType, rkey) {
  if (!isValidRecordKey(rkey)) return 'not a valid record key'
  if (keyType === 'tid') return isValidTid(rkey) ? null : 'not a TID (the lexicon says key "tid")'
  if (keyType.startsWith('literal:')) {
    const want = keyType.slice('literal:'.length)
    return rkey === want ? null : `not "${want}" (the lexicon says key "${keyType}")`
  }
  return null // "any"
}

async function listRecords(base, repo, collection) {
  const out = []
  let cursor = ''
  for (let page = 0; page < 1000; page++) {
    const params = new URLSearchParams({ repo, collection, limit: '100' })
    if (cursor) params.set('cursor', cursor)
    const res = await fetch(`${base}/xrpc/com.atproto.repo.listRecords?${params}`)
    if (!res.ok) throw new Error(`listRecords ${collection} on ${base}: ${res.status} ${await res.text()}`)
    const body = await res.json()
    out.push(...body.records)
    if (!body.cursor || body.records.length === 0) break
    cursor = body.cursor
  }
  return out
}

const targets = [
  [pdsUrl, userDid, ['io.atcr.manifest', 'io.atcr.tag', 'io.atcr.sailor.profile']],
  [holdUrl, holdDid, ['io.atcr.hold.captain', 'io.atcr.hold.crew', 'io.atcr.hold.layer', 'io.atcr.hold.stats']],
]
let failures = 0
for (const [base, repo, collections] of targets) {
  for (const nsid of collections) {
    const keyType = lex.getDefOrThrow(`lex:${nsid}#main`).key
    const records = await listRecords(base, repo, nsid)
    let bad = 0
    for (const r of records) {
      const rkey = r.uri.split('/').pop()
      const problems = []
      const keyIssue = keyProblem(keyType, rkey)
      if (keyIssue) problems.push(`rkey ${rkey}: ${keyIssue}`)
      try {
        lex.assertValidRecord(nsid, jsonToLex(r.value))
      } catch (e) {
        problems.push(e.message)
      }
      if (problems.length) {
        bad++
        console.log(`FAIL  ${r.uri}: ${problems.join('; ')}`)
      }
    }
    if (records.length === 0) {
      console.log(`FAIL  ${nsid}: no records in ${repo} (a push writes some)`)
      failures++
    }
    failures += bad
    console.log(`${bad ? 'FAIL' : 'PASS'}  ${nsid}: ${records.length - bad}/${records.length} valid (key ${keyType})`)
  }
}
process.exit(failures ? 1 : 0)
