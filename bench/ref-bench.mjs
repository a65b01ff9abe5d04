#!/usr/bin/env node
// ref-bench.mjs - the reference (@atproto/repo, TypeScript) side of atcr's
// benchmark; bench/run.sh runs it next to build-bench/bench/atcr_bench, which
// does the same work in C++ and prints the same lines.
//
//   eval "$(bash scripts/node-tools.sh)"; "$ATCR_NODE" bench/ref-bench.mjs [--quick] [name...]
//
// stdout: one JSON line per benchmark,
//   {"name": ..., "ops": N, "seconds": S, "ops_per_sec": X, ...extra fields}
// then {"name": "peak_rss_kb", "value": <process.resourceUsage().maxRSS, KB>}.
// Progress and notes go to stderr. --quick (or ATCR_BENCH_QUICK=1) divides
// every size by 10 for a smoke run. Naming benchmarks runs only those.
//
// The workloads, defined so the C++ side can do exactly the same:
//   keys:  splitmix64 seeded with 42; key i = "com.example.record/" + tid(x >> 1)
//          where x is the i-th output and tid(v) is v as 13 base32-sortable
//          chars ("234567abcdefghijklmnopqrstuvwxyz"), 5 bits each, most
//          significant first (char j = (v >> (60 - 5*j)) & 31). Duplicates skipped.
//   mst_build_100k   100,000 such keys, each -> the fixed CID LEAF_CID, added to
//                    an empty MST in generation order, then the root CID
//                    computed. Prints "root" (same keys => same root on both sides).
//   repo_writes_10k  a repo created empty, then 10,000 commits of one record
//                    create each (Repo.applyWrites: MST update + signed commit),
//                    signing key SIGNING_KEY_HEX, record RECORD(i).
//   cbor_encode / cbor_decode   bench/record-1k.json (atproto JSON: $link,
//                    $bytes, blob) as DAG-CBOR, encoded / decoded N times with
//                    the codec @atproto/repo uses (@atproto/lex-cbor, cborg).
//                    Also "bytes" (encoded size), "bytes_per_sec" and "cid".
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

process.env.LOG_ENABLED = 'false'
const require = createRequire(import.meta.url)
async function load(name) {
  let path
  try {
    path = require.resolve(name)
  } catch {
    throw new Error(`cannot find ${name}: run scripts/node-tools.sh and use the NODE_PATH it prints`)
  }
  return import(pathToFileURL(path).href)
}
const [repoLib, cryptoLib, lexJson, lexCbor, lexData] = await Promise.all(
  ['@atproto/repo', '@atproto/crypto', '@atproto/lex-json', '@atproto/lex-cbor', '@atproto/lex-data'].map(load))
const { MST, MemoryBlockstore, Repo, WriteOpAction } = repoLib

const LEAF_CID = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'
const SIGNING_KEY_HEX = '9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c'
const REPO_DID = 'did:plc:atcrbenchatcrbenchatcrbe'
const COLLECTION = 'com.example.record'
// RECORD(i): the record written by repo_writes_10k's i-th commit (i from 0).
const RECORD = (i) => ({ $type: COLLECTION, text: `record ${i}`, createdAt: '2024-09-17T12:00:00.000Z' })

const args = process.argv.slice(2)
const quick = args.includes('--quick') || process.env.ATCR_BENCH_QUICK === '1'
const only = args.filter((a) => !a.startsWith('--'))
const scale = (n) => (quick ? Math.max(1, Math.floor(n / 10)) : n)
const note = (msg) => process.stderr.write(`[ref-bench] ${msg}\n`)

function emit(name, ops, seconds, extra = {}) {
  const line = { name, ops, seconds: +seconds.toFixed(6), ops_per_sec: +(ops / seconds).toFixed(2), ...extra }
  process.stdout.write(JSON.stringify(line) + '\n')
}
const now = () => process.hrtime.bigint()
const secondsSince = (t0) => Number(process.hrtime.bigint() - t0) / 1e9

// ---------------------------------------------------------------- keys
const S32 = '234567abcdefghijklmnopqrstuvwxyz'
const MASK64 = (1n << 64n) - 1n
function* splitmix64(seed) {
  let s = BigInt(seed) & MASK64
  for (;;) {
    s = (s + 0x9e3779b97f4a7c15n) & MASK64
    let z = s
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64
    yield z ^ (z >> 31n)
  }
}
function tid(v) {
  let s = ''
  for (let j = 0; j < 13; j++) s += S32[Number((v >> BigInt(60 - 5 * j)) & 31n)]
  return s
}
function benchKeys(n) {
  const out = []
  const seen = new Set()
  const rng = splitmix64(42)
  while (out.length < n) {
    const k = `${COLLECTION}/${tid(rng.next().value >> 1n)}`
    if (!seen.has(k)) {
      seen.add(k)
      out.push(k)
    }
  }
  return out
}

// ---------------------------------------------------------------- benchmarks
async function mstBuild() {
  const n = scale(100_000)
  const keys = benchKeys(n)
  const leaf = lexData.parseCid(LEAF_CID)
  const t0 = now()
  let mst = await MST.create(new MemoryBlockstore())
  for (const k of keys) mst = await mst.add(k, leaf)
  const root = await mst.getPointer()
  emit('mst_build_100k', n, secondsSince(t0), { root: root.toString(), first_key: keys[0] })
}

async function repoWrites() {
  // @atproto/repo ships no SQLite block store (the PDS keeps its own SQL
  // storage outside this package), so the reference runs on MemoryBlockstore;
  // atcr's side may use its SQLite store: compare with that in mind.
  const n = scale(10_000)
  const keypair = await cryptoLib.Secp256k1Keypair.import(SIGNING_KEY_HEX)
  const rkeys = benchKeys(n).map((k) => k.slice(COLLECTION.length + 1))
  const storage = new MemoryBlockstore()
  const t0 = now()
  let repo = await Repo.create(storage, REPO_DID, keypair)
  for (let i = 0; i < n; i++) {
    repo = await repo.applyWrites(
      { action: WriteOpAction.Create, collection: COLLECTION, rkey: rkeys[i], record: RECORD(i) }, keypair)
  }
  emit('repo_writes_10k', n, secondsSince(t0), { data: repo.commit.data.toString(), store: 'memory' })
}

function cbor() {
  const here = dirname(fileURLToPath(import.meta.url))
  const value = lexJson.jsonToLex(JSON.parse(readFileSync(join(here, 'record-1k.json'), 'utf8')), { strict: true })
  const bytes = lexCbor.encode(value)
  const n = scale(100_000)
  for (let i = 0; i < 2000; i++) lexCbor.decode(lexCbor.encode(value)) // warm-up
  return { value, bytes, n }
}

async function cborEncode() {
  const { value, bytes, n } = cbor()
  const cid = (await lexCbor.cidForLex(value)).toString()
  let total = 0
  const t0 = now()
  for (let i = 0; i < n; i++) total += lexCbor.encode(value).length
  const s = secondsSince(t0)
  if (total !== n * bytes.length) throw new Error('encode size changed')
  emit('cbor_encode', n, s, { bytes: bytes.length, bytes_per_sec: +((n * bytes.length) / s).toFixed(0), cid })
}

async function cborDecode() {
  const { bytes, n } = cbor()
  let keys = 0
  const t0 = now()
  for (let i = 0; i < n; i++) keys += Object.keys(lexCbor.decode(bytes)).length
  const s = secondsSince(t0)
  if (keys === 0) throw new Error('decode produced nothing')
  emit('cbor_decode', n, s, { bytes: bytes.length, bytes_per_sec: +((n * bytes.length) / s).toFixed(0) })
}

const benches = { mst_build_100k: mstBuild, repo_writes_10k: repoWrites, cbor_encode: cborEncode, cbor_decode: cborDecode }
for (const name of only) if (!benches[name]) throw new Error(`unknown benchmark ${name}`)
note(`node ${process.version}${quick ? ' (quick)' : ''}`)
for (const [name, fn] of Object.entries(benches)) {
  if (only.length && !only.includes(name)) continue
  note(`running ${name}`)
  await fn()
}
process.stdout.write(JSON.stringify({ name: 'peak_rss_kb', value: process.resourceUsage().maxRSS }) + '\n')
