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
// and adds "loggedOut": true once the AppView shows nobody signed in
// (BEFORE_LOGOUT, a shell command, runs just before the press: a test can
// look at the grant the logout will end).
// Env: CHROMIUM (default /usr/bin/chromium), CHROMIUM_ARG (one more switch),
// IGNORE_TLS=1 (accept the test CA's certificates).
// The browser and the sign-in steps are browser-signin.mjs's; on failure it
// writes a screenshot and the page's HTML under $OAUTH_ARTIFACTS (default /tmp)
// and exits 1.
import { execSync } from 'node:child_process'
import { openBrowser } from './browser-signin.mjs'

const [appview, handle, password, ...flags] = process.argv.slice(2)
if (!appview || !handle || !password) {
  console.error('usage: oauth-browser.mjs <appview_url> <handle> <password> [--deny] [--logout]')
  process.exit(2)
}
const deny = flags.includes('--deny')
const logout = flags.includes('--logout')

const b = await openBrowser('oauth')
const page = b.page
const fail = (what, err) => b.fail(what, err)
try {
  await page.goto(`${appview}/login`)
} catch (e) {
  await fail('opening the sign-in page', e)
}
await b.signIn(appview, handle, password, { deny })
const callback = b.callback

let result
if (deny) {
  result = { signedIn: false, url: page.url(), callback, error: (await page.locator('#error').textContent()) || '' }
} else {
  try {
    const who = await page.locator('#whoami').textContent()
    result = { signedIn: true, whoami: who, url: page.url(), callback }
    if (logout) {
      if (process.env.BEFORE_LOGOUT) execSync(process.env.BEFORE_LOGOUT, { stdio: ['ignore', 2, 2] })
      await Promise.all([page.waitForURL((u) => u.pathname === '/login'), page.getByRole('button', { name: /log out/i }).click()])
      result.loggedOut = (await page.locator('#whoami').count()) === 0
    }
  } catch (e) {
    await fail('landing back on the AppView', e)
  }
}
console.log(JSON.stringify(result))
await b.close()
