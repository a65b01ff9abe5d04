// tls-proxy.mjs - a TLS terminator for tests: https on 127.0.0.1:<port>
// with the given certificate, every request passed on unchanged to an http
// origin (the AppView), as a production TLS proxy would sit in front of it.
//   node tls-proxy.mjs <port> <cert.pem> <key.pem> <http://127.0.0.1:appview_port>
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'

const [port, cert, key, target] = process.argv.slice(2)
const origin = new URL(target)
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  const upstream = http.request(
    { host: origin.hostname, port: origin.port, method: req.method, path: req.url,
      headers: { ...req.headers, 'x-forwarded-proto': 'https' } },
    (up) => {
      res.writeHead(up.statusCode, up.rawHeaders)
      up.pipe(res)
    },
  )
  upstream.on('error', (err) => {
    res.writeHead(502, { 'content-type': 'text/plain' })
    res.end(`tls-proxy: ${err.message}\n`)
  })
  req.pipe(upstream)
})
server.listen(Number(port), '127.0.0.1', () => console.log(`tls-proxy: https://127.0.0.1:${port} -> ${target}`))
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)))
