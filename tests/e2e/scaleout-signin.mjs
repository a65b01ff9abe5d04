// scaleout-signin.mjs - a web OAuth sign-in that starts on one AppView
// instance and ends on another (both on one PostgreSQL database behind a
// load balancer): Debian's chromium, headless, driven by playwright-core,
// through the reference PDS's own authorization UI (browser-signin.mjs).
//
//   node scaleout-signin.mjs <instance_a> <instance_b> <public_url> <handle> <password>
//
// The browser opens <instance_a>/login and submits the handle there, so A
// makes the pushed authorization request and keeps the sign-in in flight.
// The PDS then redirects the browser to <public_url>/auth/oauth/callback;
// that request is answered by <instance_b> instead (a CDP Fetch interception
// sends it there and hands B's answer, cookie included, to the browser:
// playwright's own routes do not see redirects), so B must find what A
// kept. Prints one JSON line: {"signedIn", "whoami", "callback" (the URL
// the PDS redirected to: a test may replay it), "landedOn" (the origin the
// callback was sent to)}.
import { openBrowser } from './browser-signin.mjs'

const [a, b, publicUrl, handle, password] = process.argv.slice(2)
if (!a || !b || !publicUrl || !handle || !password) {
  console.error('usage: scaleout-signin.mjs <instance_a> <instance_b> <public_url> <handle> <password>')
  process.exit(2)
}

const browser = await openBrowser('scaleout')
const page = browser.page
let landedOn = ''
// B's answer to a request the browser made (redirects not followed), as CDP
// Fetch.fulfillRequest takes it.
async function askB(request) {
  const target = new URL(request.url)
  const to = new URL(b)
  target.protocol = to.protocol
  target.host = to.host
  const r = await fetch(target, { headers: request.headers, redirect: 'manual' })
  landedOn = to.origin
  const responseHeaders = []
  r.headers.forEach((value, name) => { if (name !== 'set-cookie') responseHeaders.push({ name, value }) })
  for (const value of r.headers.getSetCookie()) responseHeaders.push({ name: 'set-cookie', value })
  const body = Buffer.from(await r.arrayBuffer()).toString('base64')
  return { responseCode: r.status, responseHeaders, body }
}
// Every callback the PDS redirects to is answered by instance B.
const cdp = await page.context().newCDPSession(page)
cdp.on('Fetch.requestPaused', async (e) => {
  try {
    await cdp.send('Fetch.fulfillRequest', { requestId: e.requestId, ...(await askB(e.request)) })
  } catch (err) {
    console.error(`scaleout-browser: sending the callback to instance B: ${err.message}`)
    await cdp.send('Fetch.failRequest', { requestId: e.requestId, errorReason: 'Failed' })
  }
})
await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `${publicUrl}/auth/oauth/callback*`, requestStage: 'Request' }] })

try {
  await page.goto(`${a}/login`)
} catch (e) {
  await browser.fail('opening the sign-in page on instance A', e)
}
await browser.signIn(publicUrl, handle, password)
let whoami = ''
try {
  whoami = await page.locator('#whoami').textContent()
} catch (e) {
  await browser.fail('landing back on the AppView signed in', e)
}
console.log(JSON.stringify({ signedIn: !!whoami, whoami, callback: browser.callback, landedOn }))
await browser.close()
