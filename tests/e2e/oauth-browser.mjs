// oauth-browser.mjs - signs in to the AppView with ATProto OAuth in a real
// browser: Debian's chromium, headless, driven by playwright-core. Opens
// <appview>/login, submits the handle, signs in on the reference PDS's own
// authorization UI with the account's password, approves the consent page,
// and waits to land back on the AppView signed in.
//
//   node oauth-browser.mjs <appview_url> <handle> <password> [--deny] [--logout]
//
// Prints one JSON line: {"signedIn": true, "whoami": "<handle>", "url": ...,
// "callback": <the redirect back to the AppView, code and state included>}.
// (a test may replay it). --deny rejects the consent instead and reports
// the error page; --logout then presses "Log out" (a CSRF-checked form POST)
// and adds "loggedOut": true once the AppView shows nobody signed in.
// Env: CHROMIUM (default /usr/bin/chromium), CHROMIUM_ARG (one more switch),
// IGNORE_TLS=1 (accept the test CA's certificates).
// On failure, writes a screenshot and the page's HTML next to $OAUTH_ARTIFACTS
// (default /tmp) and exits 1.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'

// playwright-core lives in $ATCR_CACHE/browser (scripts/node-tools.sh).
const modules = process.env.ATCR_BROWSER_NODE_PATH
if (!modules) {
  console.error('oauth-browser: ATCR_BROWSER_NODE_PATH is not set (eval "$(bash scripts/node-tools.sh)")')
  process.exit(2)
}
const { chromium } = createRequire(path.join(modules, 'noop.js'))('playwright-core')

const [appview, handle, password, ...flags] = process.argv.slice(2)
if (!appview || !handle || !password) {
  console.error('usage: oauth-browser.mjs <appview_url> <handle> <password> [--deny]')
  process.exit(2)
}
const deny = flags.includes('--deny')
const logout = flags.includes('--logout')
const artifacts = process.env.OAUTH_ARTIFACTS || os.tmpdir()
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'atcr-chromium-'))
const STEP = 20000 // ms per step

// A fresh profile per run (launchPersistentContext is how playwright takes
// a --user-data-dir).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  ignoreHTTPSErrors: process.env.IGNORE_TLS === '1',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // e.g. --host-resolver-rules=MAP registry.atcr.dev 127.0.0.1 (one argument)
    ...(process.env.CHROMIUM_ARG ? [process.env.CHROMIUM_ARG] : [])],
})
const browser = context
const page = await context.newPage()
page.setDefaultTimeout(STEP)
let callback = ''
const isCallback = (url) => url.href.startsWith(appview) && url.pathname === '/auth/oauth/callback'
// (The PDS redirects there with a 303, and playwright's routes do not see
// redirected requests; the request event does.)
page.on('request', (request) => {
  if (isCallback(new URL(request.url()))) callback = request.url()
})

async function fail(what, err) {
  const base = path.join(artifacts, `oauth-browser-${Date.now()}`)
  try {
    await page.screenshot({ path: `${base}.png`, fullPage: true })
    fs.writeFileSync(`${base}.html`, await page.content())
  } catch {}
  console.error(`oauth-browser: ${what}: ${err && err.message ? err.message : err} (at ${page.url()}; see ${base}.png)`)
  await browser.close()
  fs.rmSync(profile, { recursive: true, force: true })
  process.exit(1)
}

try {
  await page.goto(`${appview}/login`)
  await page.fill('#handle', handle)
  await Promise.all([page.waitForURL((u) => !u.href.startsWith(appview)), page.click('#signin')])
} catch (e) {
  await fail('starting the sign-in at the AppView', e)
}

// The PDS's authorization UI: sign in (identifier prefilled from login_hint).
try {
  const pw = page.locator('input[type=password]')
  await pw.waitFor()
  const ident = page.locator('input[name=username], input[name=identifier], input[autocomplete=username]')
  if ((await ident.count()) > 0 && (await ident.first().inputValue()) === '') await ident.first().fill(handle)
  await pw.fill(password)
  await pw.press('Enter')
} catch (e) {
  await fail('signing in at the PDS', e)
}

// The consent page (skipped by the PDS when this client was approved before).
async function waitCallback() {
  const deadline = Date.now() + STEP
  while (!callback && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  if (!callback) throw new Error('no redirect to the callback')
}
try {
  const button = page.getByRole('button', { name: deny ? /deny|reject|cancel/i : /authori[sz]e|accept|allow|approve/i })
  await Promise.race([button.first().waitFor(), waitCallback()])
  if (!callback) await button.first().click()
  await waitCallback()
  // Signed in: the callback redirects on; refused: it is the error page.
  await page.waitForURL((u) => u.href.startsWith(appview) && (deny || !isCallback(u)))
  await page.waitForLoadState()
} catch (e) {
  await fail('answering the consent page', e)
}

let result
if (deny) {
  result = { signedIn: false, url: page.url(), callback, error: (await page.locator('#error').textContent()) || '' }
} else {
  try {
    const who = await page.locator('#whoami').textContent()
    result = { signedIn: true, whoami: who, url: page.url(), callback }
    if (logout) {
      await Promise.all([page.waitForURL((u) => u.pathname === '/login'), page.getByRole('button', { name: /log out/i }).click()])
      result.loggedOut = (await page.locator('#whoami').count()) === 0
    }
  } catch (e) {
    await fail('landing back on the AppView', e)
  }
}
console.log(JSON.stringify(result))
await browser.close()
fs.rmSync(profile, { recursive: true, force: true })
