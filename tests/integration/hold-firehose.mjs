#!/usr/bin/env node
// hold-firehose.mjs - a real WebSocket client (npm `ws`, frames decoded with
// @atproto/lex-cbor) on a hold's firehose, for tests/integration/hold_test.cc.
//
//   "$ATCR_NODE" hold-firehose.mjs <ws-url> <collection/rkey>
//
// Subscribes to <ws-url> (…/xrpc/com.atproto.sync.subscribeRepos?cursor=0),
// reads frames until a #commit whose ops create <collection/rkey>, prints
// {"seq", "repo", "action", "path", "cid", "frames"} as one JSON line and
// exits 0. Exits 1 with a message on stderr on an error frame, a closed
// socket or after 20 s.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const require = createRequire(import.meta.url)
const load = async (name) => import(pathToFileURL(require.resolve(name)).href)
const [lexCbor, wsLib] = await Promise.all([load('@atproto/lex-cbor'), load('ws')])
const WebSocket = wsLib.default ?? wsLib.WebSocket

const [url, path] = process.argv.slice(2)
if (!url || !path) {
  console.error('usage: hold-firehose.mjs <ws-url> <collection/rkey>')
  process.exit(2)
}
const fail = (message) => {
  console.error(`hold-firehose: ${message}`)
  process.exit(1)
}
setTimeout(() => fail(`no #commit creating ${path} within 20 s`), 20000).unref()

let frames = 0
const ws = new WebSocket(url)
ws.on('error', (err) => fail(`socket error: ${err.message}`))
ws.on('close', () => fail(`socket closed after ${frames} frames without a #commit creating ${path}`))
ws.on('message', (data, isBinary) => {
  if (!isBinary) fail('text frame')
  frames++
  // An event-stream frame: a header object then a body object (DAG-CBOR).
  const items = [...lexCbor.decodeAll(new Uint8Array(data))]
  if (items.length !== 2) fail(`frame ${frames} holds ${items.length} CBOR objects, not 2`)
  const [header, body] = items
  if (header.op !== 1) fail(`error frame: ${JSON.stringify(body)}`)
  if (header.t !== '#commit') return
  const op = body.ops.find((o) => o.path === path && o.action === 'create')
  if (!op) return
  console.log(JSON.stringify({ seq: body.seq, repo: body.repo, action: op.action, path: op.path, cid: String(op.cid), frames }))
  ws.removeAllListeners('close')
  ws.close()
  process.exit(0)
})
