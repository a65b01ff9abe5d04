// device-browser.mjs - the person's side of `docker-credential-atcr login`,
// in a real browser (browser-signin.mjs): open the verification URL the
// helper printed, sign in to the AppView with ATProto OAuth on the way, check
// the page names the device, and approve (or deny) it; or revoke every
// device on /settings/devices.
//
//   node device-browser.mjs approve <verification_url> <handle> <password> <device-name>
//   node device-browser.mjs deny    <verification_url> <handle> <password> <device-name>
//   node device-browser.mjs revoke  <appview_url>      <handle> <password>
//
// Prints one JSON line ({"result": ..., ...}); exits 1 (with a screenshot
// under $OAUTH_ARTIFACTS) when a step fails.
import { openBrowser } from './browser-signin.mjs'

const [action, url, handle, password, deviceName] = process.argv.slice(2)
if (!['approve', 'deny', 'revoke'].includes(action) || !url || !handle || !password) {
  console.error('usage: device-browser.mjs approve|deny <verification_url> <handle> <password> <device-name>\n' +
    '       device-browser.mjs revoke <appview_url> <handle> <password>')
  process.exit(2)
}
const appview = new URL(url).origin
const b = await openBrowser('device')
const { page } = b

// Signed out: the page sends us to sign in, then back.
const start = action === 'revoke' ? `${appview}/settings/devices` : url
try {
  await page.goto(start)
  await page.waitForURL((u) => u.pathname === '/login')
} catch (e) {
  await b.fail('being sent to sign in', e)
}
await b.signIn(appview, handle, password)

let out
if (action === 'revoke') {
  try {
    await page.waitForURL((u) => u.pathname === '/settings/devices')
    const names = await page.locator('#devices tr.device td.name').allTextContents()
    const lastUsed = await page.locator('#devices tr.device td.last-used').allTextContents()
    let revoked = 0
    while ((await page.locator('#devices button.revoke').count()) > 0) {
      await Promise.all([page.waitForNavigation(), page.locator('#devices button.revoke').first().click()])
      revoked++
    }
    await page.locator('#no-devices').waitFor()
    out = { result: 'revoked', devices: names, lastUsed, revoked }
  } catch (e) {
    await b.fail('revoking on /settings/devices', e)
  }
} else {
  try {
    await page.waitForURL((u) => u.pathname === '/device')
    const shown = (await page.locator('#device-name').textContent()) || ''
    if (deviceName && shown !== deviceName) throw new Error(`the page names device '${shown}', not '${deviceName}'`)
    const host = await page.locator('#device-host').textContent()
    const ip = await page.locator('#device-ip').textContent()
    await Promise.all([page.waitForNavigation(), page.click(action === 'approve' ? '#approve' : '#deny')])
    const result = await page.locator('#result').textContent()
    out = { result: action === 'approve' ? 'approved' : 'denied', device: shown, host, ip, text: result }
  } catch (e) {
    await b.fail(`${action} on /device`, e)
  }
}
console.log(JSON.stringify(out))
await b.close()
