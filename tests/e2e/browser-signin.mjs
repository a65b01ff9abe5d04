// browser-signin.mjs - a real browser signed in to the AppView with ATProto
// OAuth: Debian's chromium, headless, driven by playwright-core, through the
// reference PDS's own authorization UI. Shared by the e2e browser scripts.
//
//   const b = await openBrowser('device')        // artifacts named device-*
//   await b.page.goto(`${appview}/settings/devices`)   // -> /login?return_to=...
//   await b.signIn(appview, handle, password)    // back where it started, signed in
//   ...
//   await b.close()
//
// Env: CHROMIUM (default /usr/bin/chromium), CHROMIUM_ARG (one more switch),
// IGNORE_TLS=1 (accept the test CA's certificates).
// b.fail(what, err) writes a screenshot and the page's HTML under
// $OAUTH_ARTIFACTS (default /tmp), closes the browser and exits 1.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'

const STEP = 20000 // ms per step

function playwright() {
  // playwright-core lives in $ATCR_CACHE/browser (scripts/node-tools.sh).
  const modules = process.env.ATCR_BROWSER_NODE_PATH
  if (!modules) {
    console.error('ATCR_BROWSER_NODE_PATH is not set (eval "$(bash scripts/node-tools.sh)")')
    process.exit(2)
  }
  return createRequire(path.join(modules, 'noop.js'))('playwright-core')
}

export async function openBrowser(name) {
  const { chromium } = playwright()
  const artifacts = process.env.OAUTH_ARTIFACTS || os.tmpdir()
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'atcr-chromium-'))
  // A fresh profile per run (launchPersistentContext is how playwright
  // takes a --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: process.env.IGNORE_TLS === '1',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // e.g. --host-resolver-rules=MAP registry.atcr.dev 127.0.0.1 (one argument)
      ...(process.env.CHROMIUM_ARG ? [process.env.CHROMIUM_ARG] : [])],
  })
  const page = await context.newPage()
  page.setDefaultTimeout(STEP)
  let callback = ''
  let appviewUrl = ''
  let callbackPath = '/auth/oauth/callback'
  const isCallback = (url) => url.href.startsWith(appviewUrl) && url.pathname === callbackPath
  // (The PDS redirects there with a 303, and playwright's routes do not
  // see redirected requests; the request event does.)
  page.on('request', (request) => {
    if (appviewUrl && isCallback(new URL(request.url()))) callback = request.url()
  })

  const b = {
    page,
    get callback() { return callback },
    async close() {
      await context.close()
      fs.rmSync(profile, { recursive: true, force: true })
    },
    async fail(what, err) {
      const base = path.join(artifacts, `${name}-browser-${Date.now()}`)
      try {
        await page.screenshot({ path: `${base}.png`, fullPage: true })
        fs.writeFileSync(`${base}.html`, await page.content())
      } catch {}
      console.error(`${name}-browser: ${what}: ${err && err.message ? err.message : err} (at ${page.url()}; see ${base}.png)`)
      await b.close()
      process.exit(1)
    },
    // From the AppView's sign-in form (where the page is now): the handle,
    // the PDS's sign-in and consent pages, and back to the AppView (where
    // the form's return_to says). `deny` refuses the consent instead.
    // Another service's sign-in (the hold's admin panel) names its own
    // `redirectPath`; `refused`: its callback answers with an error page.
    async signIn(appview, handle, password,
      { deny = false, redirectPath = '/auth/oauth/callback', refused = deny } = {}) {
      appviewUrl = appview
      callbackPath = redirectPath
      callback = ''
      try {
        await page.fill('#handle', handle)
        await Promise.all([page.waitForURL((u) => !u.href.startsWith(appview)), page.click('#signin')])
      } catch (e) {
        await b.fail('starting the sign-in at the AppView', e)
      }
      // The PDS's authorization UI (identifier prefilled from login_hint).
      try {
        const pw = page.locator('input[type=password]')
        await pw.waitFor()
        const ident = page.locator('input[name=username], input[name=identifier], input[autocomplete=username]')
        if ((await ident.count()) > 0 && (await ident.first().inputValue()) === '') await ident.first().fill(handle)
        await pw.fill(password)
        await pw.press('Enter')
      } catch (e) {
        await b.fail('signing in at the PDS', e)
      }
      // The consent page (skipped by the PDS when this client was approved before).
      const waitCallback = async () => {
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
        await page.waitForURL((u) => u.href.startsWith(appview) && (refused || !isCallback(u)))
        await page.waitForLoadState()
      } catch (e) {
        await b.fail('answering the consent page', e)
      }
    },
  }
  return b
}
