// pds.mjs - the reference PDS (@atproto/pds), configured from PDS_* env vars
// like the official image, listening on PDS_BIND_HOST (default 127.0.0.1)
// only. scripts/pds.sh sets the env and runs it.
//
// ATCR_PDS_HOSTS="registry.atcr.dev=127.0.0.1,...": names this PDS resolves
// to the given loopback addresses without DNS, so a test can serve an OAuth
// client's metadata on a public-looking https name (the PDS refuses client
// IDs on IPs, loopback names and .test/.local) from this machine. Pair it
// with NODE_EXTRA_CA_CERTS for the test's CA.
import dns from 'node:dns'
import { PDS } from '@atproto/pds'

const hosts = new Map(
  (process.env.ATCR_PDS_HOSTS || '').split(',').filter(Boolean).map((e) => e.split('=')),
)
if (hosts.size > 0) {
  const lookup = dns.lookup
  dns.lookup = (name, options, callback) => {
    if (typeof options === 'function') [options, callback] = [{}, options]
    const address = hosts.get(String(name).toLowerCase())
    if (!address) return lookup.call(dns, name, options, callback)
    const family = address.includes(':') ? 6 : 4
    if (options && options.all) return process.nextTick(callback, null, [{ address, family }])
    return process.nextTick(callback, null, address, family)
  }
}

const host = process.env.PDS_BIND_HOST || '127.0.0.1'

await PDS.run({
  onCreated: (pds) => {
    const listen = pds.app.listen.bind(pds.app)
    pds.app.listen = (port, ...rest) => listen(port, host, ...rest)
  },
  onStarted: (pds) => {
    const c = pds.ctx.cfg
    console.log(
      `pds: listening on http://${host}:${c.service.port} publicUrl=${c.service.publicUrl} ` +
        `did=${c.service.did} plc=${c.identity.plcUrl}`,
    )
  },
})
console.log('pds: stopped')
