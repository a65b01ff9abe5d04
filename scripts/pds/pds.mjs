// pds.mjs - the reference PDS (@atproto/pds), configured from PDS_* env vars
// like the official image, listening on PDS_BIND_HOST (default 127.0.0.1)
// only. scripts/pds.sh sets the env and runs it.
import { PDS } from '@atproto/pds'

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
