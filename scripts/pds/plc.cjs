// plc.cjs - the reference did:plc directory (@did-plc/server, in-memory
// MockDatabase: every operation goes through the reference validation) on
// loopback, for scripts/pds.sh. State lives only as long as the process.
//
//   GET  /<did>          the DID document as plc.directory serves it today:
//                        Multikey methods with absolute "<did>#atproto" ids
//   /legacy/...          the npm server itself, unchanged: GET /legacy/<did>
//                        renders its older EcdsaSecp256k1VerificationKey2019
//                        documents, so a resolver pointed at PLC_URL/legacy
//                        sees that format
//   everything else      the npm server (POST /<did>, /<did>/log/audit,
//                        /<did>/data, /export, /_health, ...)
//
// Env: PLC_PORT (default 2782), PLC_BIND_HOST (default 127.0.0.1).
'use strict'
const http = require('node:http')
const { PlcServer, Database } = require('@did-plc/server')
const plcLib = require('@did-plc/lib')

const port = parseInt(process.env.PLC_PORT || '2782', 10)
const host = process.env.PLC_BIND_HOST || '127.0.0.1'

function multikeyDoc(data) {
  const context = ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1']
  const verificationMethod = []
  for (const [id, key] of Object.entries(data.verificationMethods)) {
    const suite = key.startsWith('did:key:zDn')
      ? 'https://w3id.org/security/suites/ecdsa-2019/v1'
      : 'https://w3id.org/security/suites/secp256k1-2019/v1'
    if (!context.includes(suite)) context.push(suite)
    verificationMethod.push({
      id: `${data.did}#${id}`,
      type: 'Multikey',
      controller: data.did,
      publicKeyMultibase: key.replace(/^did:key:/, ''),
    })
  }
  const service = Object.entries(data.services).map(([id, s]) => ({
    id: `#${id}`,
    type: s.type,
    serviceEndpoint: s.endpoint,
  }))
  return { '@context': context, id: data.did, alsoKnownAs: data.alsoKnownAs, verificationMethod, service }
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type })
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

async function main() {
  const db = Database.mock()
  const plc = PlcServer.create({ db, port })

  const handler = async (req, res) => {
    const path = req.url.split('?')[0]
    if (path === '/legacy' || path.startsWith('/legacy/')) {
      req.url = req.url.slice('/legacy'.length) || '/'
      return plc.app(req, res)
    }
    let did = null
    try {
      const m = req.method === 'GET' && /^\/(did:plc:[a-z2-7]{24})$/.exec(decodeURIComponent(path))
      did = m ? m[1] : null
    } catch {}
    if (!did) return plc.app(req, res)
    try {
      const ops = await db.opsForDid(did)
      if (ops.length === 0) return send(res, 404, 'application/json', { message: `DID not registered: ${did}` })
      const data = await plcLib.validateOperationLog(did, ops)
      if (data === null) return send(res, 404, 'application/json', { message: `DID not available: ${did}` })
      send(res, 200, 'application/did+ld+json; charset=utf-8', multikeyDoc(data))
    } catch (err) {
      send(res, 500, 'application/json', { message: String(err) })
    }
  }
  // PlcServer.start() calls app.listen(port): bind to loopback only.
  plc.app.listen = (p, ...rest) => http.createServer(handler).listen(p, host, ...rest)
  await plc.start()
  console.log(`plc: listening on http://${host}:${port}`)
  const stop = async () => {
    await plc.destroy()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
