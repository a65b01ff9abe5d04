#!/usr/bin/env node
// pds-check.mjs - the reference implementation checks atcr's embedded PDS.
//
//   "$ATCR_NODE" tests/interop/pds-check.mjs <path-to-atcr_pds_tool>
//
// Starts atcr_pds_tool on a temp dir (see its header for the protocol), then,
// with ws + @atproto/lex-cbor + @atproto/repo + @atproto/crypto:
//   * subscribes to com.atproto.sync.subscribeRepos?cursor=0, decodes every
//     frame (two DAG-CBOR objects), and checks the backlog: #identity,
//     #account, the initial #commit and three write commits, seqs increasing;
//   * asks the tool for live commits and receives them on the same socket;
//   * verifies every #commit: CAR root = commit, commit signature against the
//     PDS's did:key (verifyCommitSig), rev/repo/since match, each op's record
//     is in the CAR with its CID, and the ops inverted on an MST loaded from
//     the CAR alone give prevData;
//   * a cursor in the future gets an error frame FutureCursor;
//   * sync.getRepo's CAR passes verifyRepoCar with the DID and key, and its
//     head is the last #commit.
// Prints one line per check and `pds-check: N passed, M failed`; exits 1 on a
// failure, 77 (skip) if the tool says its server has no subscriptions.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

process.env.LOG_ENABLED = 'false' // @atproto/common's pino logger must not write to stdout

const require = createRequire(import.meta.url)
async function load(name) {
  return import(pathToFileURL(require.resolve(name)).href)
}
const [repoLib, lexCbor, wsLib] = await Promise.all([load('@atproto/repo'), load('@atproto/lex-cbor'), load('ws')])
const { MST, MemoryBlockstore, readCarWithRoot, verifyRepoCar, verifyCommitSig } = repoLib
const WebSocket = wsLib.default ?? wsLib.WebSocket

const TIMEOUT_MS = 30000
let passed = 0
let failed = 0
function check(name, ok, detail = '') {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? `: ${detail}` : ''}`)
}
const withTimeout = (promise, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), TIMEOUT_MS).unref())])

// ------------------------------------------------------------------ the tool
const tool = process.argv[2]
if (!tool) {
  console.error('usage: pds-check.mjs <atcr_pds_tool>')
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'atcr-pds-check-'))
const child = spawn(tool, [dir], { stdio: ['pipe', 'pipe', 'inherit'] })
const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
async function nextLine(what) {
  const { value, done } = await withTimeout(lines.next(), what)
  if (done) throw new Error(`atcr_pds_tool exited before ${what}`)
  return JSON.parse(value)
}
function cleanup() {
  try { child.stdin.end('quit\n') } catch {}
  setTimeout(() => child.kill('SIGKILL'), 5000).unref()
  rmSync(dir, { recursive: true, force: true })
}

// ------------------------------------------------------------------ frames
function decodeFrame(bytes) {
  const items = [...lexCbor.decodeAll(new Uint8Array(bytes))]
  if (items.length !== 2) throw new Error(`frame holds ${items.length} CBOR objects, not 2`)
  const [header, body] = items
  return { header, body }
}

// A subscription that queues decoded frames for the test to take in order.
function subscribe(url) {
  const ws = new WebSocket(url)
  const queue = []
  const waiters = []
  let closed = false
  const push = (item) => {
    const w = waiters.shift()
    if (w) w(item)
    else queue.push(item)
  }
  ws.on('message', (data, isBinary) => push(isBinary ? decodeFrame(data) : { error: 'text frame' }))
  ws.on('error', (err) => push({ error: String(err) }))
  ws.on('close', () => { closed = true; push({ closed: true }) })
  return {
    next: (what) => withTimeout(queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)), what),
    close: () => ws.close(),
    get closed() { return closed },
  }
}

// ------------------------------------------------------------------ #commit
async function verifyCommitFrame(body, did, didKey, prevRev) {
  const car = await readCarWithRoot(body.blocks) // checks every block's hash
  if (!car.root.equals(body.commit)) throw new Error(`CAR root ${car.root} != commit ${body.commit}`)
  const commit = repoLib.cborToLex(car.blocks.get(car.root))
  if (!(await verifyCommitSig(commit, didKey))) throw new Error('commit signature does not verify')
  if (commit.did !== did || body.repo !== did) throw new Error(`repo ${body.repo} / commit did ${commit.did}`)
  if (commit.rev !== body.rev) throw new Error(`rev ${body.rev} != commit rev ${commit.rev}`)
  if ((body.since ?? null) !== (prevRev ?? null)) throw new Error(`since ${body.since} != previous rev ${prevRev}`)
  for (const field of ['rebase', 'tooBig']) if (body[field] !== false) throw new Error(`${field} is not false`)
  if (!Array.isArray(body.blobs) || body.blobs.length) throw new Error('blobs is not []')
  const storage = new MemoryBlockstore(car.blocks)
  let mst = MST.load(storage, commit.data)
  for (const op of body.ops) {
    const got = await mst.get(op.path)
    if (op.action === 'delete') {
      if (op.cid !== null || got !== null) throw new Error(`delete ${op.path} still present`)
    } else {
      if (!got || !got.equals(op.cid)) throw new Error(`${op.action} ${op.path}: tree has ${got}, op says ${op.cid}`)
      if (!car.blocks.has(op.cid)) throw new Error(`record block ${op.cid} of ${op.path} missing from the CAR`)
      repoLib.cborToLexRecord(car.blocks.get(op.cid))
    }
    if (op.action !== 'create' && !op.prev) throw new Error(`${op.action} ${op.path} has no prev`)
  }
  if (body.ops.length === 0) return commit // the initial commit: nothing to invert
  for (const op of body.ops) {
    if (op.action === 'create') mst = await mst.delete(op.path)
    else if (op.action === 'update') mst = await mst.update(op.path, op.prev)
    else mst = await mst.add(op.path, op.prev)
  }
  const inverted = await mst.getPointer()
  if (!body.prevData || !inverted.equals(body.prevData)) throw new Error(`inverted root ${inverted} != prevData ${body.prevData}`)
  return commit
}

// ------------------------------------------------------------------ main
let exitCode = 0
try {
  const info = await nextLine('the info line')
  if (info.skip) {
    console.log(`skip: ${info.skip}`)
    cleanup()
    process.exit(77)
  }
  const { url, did, signingKey } = info
  const wsBase = url.replace(/^http/, 'ws') + '/xrpc/com.atproto.sync.subscribeRepos'

  const sub = subscribe(`${wsBase}?cursor=0`)
  const types = []
  let lastSeq = 0
  let lastRev = null
  let lastCommit = null
  let commitsOk = 0
  const take = async (what) => {
    const f = await sub.next(what)
    if (f.error || f.closed) throw new Error(`${what}: ${f.error ?? 'socket closed'}`)
    if (f.header.op !== 1) throw new Error(`${what}: error frame ${JSON.stringify(f.body)}`)
    types.push(f.header.t)
    if (!(f.body.seq > lastSeq)) throw new Error(`seq ${f.body.seq} after ${lastSeq}`)
    lastSeq = f.body.seq
    if (f.header.t === '#commit') {
      try {
        await verifyCommitFrame(f.body, did, signingKey, lastRev)
        commitsOk++
      } catch (err) {
        check(`#commit seq ${f.body.seq} verifies`, false, err.message)
      }
      lastRev = f.body.rev
      lastCommit = f.body.commit.toString()
    }
    return f
  }
  while (lastSeq < info.seq) await take(`backlog up to seq ${info.seq}`)
  check('backlog: #identity, #account, then 4 #commits',
    JSON.stringify(types) === JSON.stringify(['#identity', '#account', '#commit', '#commit', '#commit', '#commit']),
    JSON.stringify(types))

  let liveHead = info.head
  for (let i = 0; i < 3; i++) {
    child.stdin.write('write\n')
    const w = await nextLine('a live write')
    while (lastSeq < w.seq) await take(`live event seq ${w.seq}`)
    liveHead = w.head
  }
  check('live: 3 more #commits arrive on the open socket', types.length === 9 && lastCommit === liveHead,
    `${types.length} events, last commit ${lastCommit}, head ${liveHead}`)
  check('every #commit verifies (signature, fields, CAR slice inverts to prevData)', commitsOk === 7 && failed === 0,
    `${commitsOk} of 7`)
  sub.close()

  const future = subscribe(`${wsBase}?cursor=${lastSeq + 1000}`)
  const f = await future.next('the FutureCursor frame')
  check('future cursor: error frame FutureCursor', f.header?.op === -1 && f.body?.error === 'FutureCursor',
    JSON.stringify(f))
  future.close()

  const mid = subscribe(`${wsBase}?cursor=${lastSeq - 2}`)
  const replay = [await mid.next('replay 1'), await mid.next('replay 2')]
  check('cursor replays the events after it', replay.map((r) => r.body?.seq).join() === `${lastSeq - 1},${lastSeq}`,
    JSON.stringify(replay.map((r) => r.body?.seq)))
  mid.close()

  const res = await withTimeout(fetch(`${url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`), 'getRepo')
  const carBytes = new Uint8Array(await res.arrayBuffer())
  check('getRepo answers a CAR', res.status === 200 && res.headers.get('content-type') === 'application/vnd.ipld.car',
    `${res.status} ${res.headers.get('content-type')}`)
  try {
    const verified = await verifyRepoCar(carBytes, did, signingKey)
    // 30 creates - 1 delete + 1 create - 1 delete, then per live write +1 -1.
    check('getRepo CAR passes verifyRepoCar', verified.creates.length === 29, `${verified.creates.length} records`)
    check('getRepo head is the last #commit', verified.commit.rev === lastRev, `${verified.commit.rev} vs ${lastRev}`)
  } catch (err) {
    check('getRepo CAR passes verifyRepoCar', false, err.message)
  }
} catch (err) {
  check('pds-check ran to the end', false, err.stack ?? String(err))
}
cleanup()
console.log(`pds-check: ${passed} passed, ${failed} failed`)
exitCode = failed ? 1 : 0
process.exit(exitCode)
