#!/usr/bin/env node
// ref-repo.mjs - the reference side of atcr's repository cross-checks: a small
// CLI over @atproto/repo + @atproto/crypto (the TypeScript implementation).
// tests/interop/atcr_repo_tool.cc implements exactly the same contract in C++,
// and tests/interop/crosscheck.py compares the two.
//
// Run with Node >= 22 and NODE_PATH pointing at the node_modules that
// scripts/node-tools.sh installs (eval "$(bash scripts/node-tools.sh)"):
//   "$ATCR_NODE" tests/interop/ref-repo.mjs <command> ...
//
// Commands (stdout: exactly one JSON line; errors: message on stderr, exit 1;
// bad usage: exit 2):
//   build <input.json> <out.car>
//       input: {"did": "did:plc:...", "signingKey": "<64 hex: secp256k1 private key>",
//               "records": [{"collection": "...", "rkey": "...", "value": {<atproto JSON>}}]}
//       Creates a repo holding every record in one signed commit and writes it
//       as a CAR file (root = commit). Prints {"root": "<commit CID>", "data": "<MST root CID>"}
//   verify <file.car> <did> <did:key>
//       Fully verifies the CAR: block CIDs, commit (did, version, signature),
//       the MST (every node, canonical shape), every record block present and
//       valid DAG-CBOR. Prints {"root", "data", "records": [["<collection>/<rkey>", "<record CID>"], ...]}
//       with records sorted by path.
//   mst-root <keys.json>
//       input: [["<collection>/<rkey>", "<cid>"], ...]; prints {"root": "<cid>"} of the MST holding them.
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

process.env.LOG_ENABLED = 'false' // @atproto/common's pino logger must not write to stdout

const PROG = 'ref-repo'
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

const [repoLib, cryptoLib, lexJson, lexData] = await Promise.all([
  load('@atproto/repo'),
  load('@atproto/crypto'),
  load('@atproto/lex-json'),
  load('@atproto/lex-data'),
])
const { Repo, MemoryBlockstore, MST, WriteOpAction, readCarWithRoot, verifyRepo, getFullRepo, concatBytesAsync } = repoLib
const { Secp256k1Keypair } = cryptoLib

function usage() {
  process.stderr.write(
    `usage: ${PROG} build <input.json> <out.car>\n` +
    `       ${PROG} verify <file.car> <did> <did:key>\n` +
    `       ${PROG} mst-root <keys.json>\n`)
  process.exit(2)
}

function fail(msg) {
  throw new Error(msg)
}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'))

async function build(inputPath, outPath) {
  const input = readJson(inputPath)
  if (typeof input?.did !== 'string') fail('input: "did" must be a string')
  if (typeof input.signingKey !== 'string' || !/^[0-9a-fA-F]{64}$/.test(input.signingKey)) {
    fail('input: "signingKey" must be 64 hex characters')
  }
  if (!Array.isArray(input.records)) fail('input: "records" must be an array')
  const keypair = await Secp256k1Keypair.import(input.signingKey.toLowerCase())
  const writes = input.records.map((r, i) => {
    if (typeof r?.collection !== 'string' || typeof r.rkey !== 'string') {
      fail(`input: records[${i}] needs string "collection" and "rkey"`)
    }
    const record = lexJson.jsonToLex(r.value, { strict: true })
    if (record === null || typeof record !== 'object' || Array.isArray(record) ||
        record instanceof Uint8Array || lexData.isCid(record)) {
      fail(`input: records[${i}].value must be a JSON object`)
    }
    return { action: WriteOpAction.Create, collection: r.collection, rkey: r.rkey, record }
  })
  const storage = new MemoryBlockstore()
  const repo = await Repo.create(storage, input.did, keypair, writes)
  const car = await concatBytesAsync(getFullRepo(storage, repo.cid))
  writeFileSync(outPath, car)
  return { root: repo.cid.toString(), data: repo.commit.data.toString() }
}

async function verify(carPath, did, didKey) {
  const bytes = readFileSync(carPath)
  // readCarWithRoot checks that every block hashes to its CID.
  const car = await readCarWithRoot(bytes)
  // verifyRepo: commit did + signature against didKey, walks the whole MST and
  // requires every record (leaf) block to be present.
  const verified = await verifyRepo(car.blocks, car.root, did, didKey)
  const storage = new MemoryBlockstore(car.blocks)
  const repo = await Repo.load(storage, car.root)
  if (repo.commit.version !== 3) fail(`unsupported commit version ${repo.commit.version}`)

  const records = []
  for (const w of verified.creates) {
    // every record must be a DAG-CBOR map (readCar already checked its hash)
    const block = car.blocks.get(w.cid)
    if (!block) fail(`missing record block ${w.cid}`)
    repoLib.cborToLexRecord(block)
    records.push([`${w.collection}/${w.rkey}`, w.cid.toString()])
  }
  records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))

  // The MST must have the one canonical shape for its keys: rebuild it from
  // the leaves alone and compare roots.
  let rebuilt = await MST.create(new MemoryBlockstore())
  for (const [path, cid] of records) rebuilt = await rebuilt.add(path, lexData.parseCid(cid))
  const rebuiltRoot = await rebuilt.getPointer()
  if (!rebuiltRoot.equals(repo.commit.data)) {
    fail(`MST is not canonical: commit data ${repo.commit.data}, rebuilt ${rebuiltRoot}`)
  }
  return { root: car.root.toString(), data: repo.commit.data.toString(), records }
}

async function mstRoot(keysPath) {
  const keys = readJson(keysPath)
  if (!Array.isArray(keys)) fail('keys.json must be an array of [key, cid] pairs')
  let mst = await MST.create(new MemoryBlockstore())
  for (const [i, pair] of keys.entries()) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      fail(`keys[${i}] must be ["key", "cid"]`)
    }
    mst = await mst.add(pair[0], lexData.parseCid(pair[1]))
  }
  return { root: (await mst.getPointer()).toString() }
}

const [cmd, ...args] = process.argv.slice(2)
const commands = { build: [build, 2], verify: [verify, 3], 'mst-root': [mstRoot, 1] }
if (!commands[cmd] || args.length !== commands[cmd][1]) usage()
try {
  const out = await commands[cmd][0](...args)
  process.stdout.write(JSON.stringify(out) + '\n')
} catch (err) {
  process.stderr.write(`${PROG} ${cmd}: ${err?.message ?? err}\n`)
  process.exit(1)
}
