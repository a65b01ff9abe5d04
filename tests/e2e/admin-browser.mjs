// admin-browser.mjs - the hold's admin panel driven in a real browser
// (Debian's chromium, headless, playwright-core), signed in with ATProto
// OAuth through the reference PDS's own authorization UI:
//
//   node admin-browser.mjs <hold_url> <owner_handle> <owner_password> \
//        <member_handle> <member_did> <member_password> <push_script> <drop_script>
//
// As the owner: turns Bluesky posts on (settings), adds the member (by
// handle) to the crew, runs `<push_script> allowed` (the member pushes),
// reads the storage page,
// removes the member, runs `<push_script> refused`; runs `<drop_script>`
// (the member's image is deleted, and the grace period passes), then on
// the GC page: a preview, a run (its layer records go, its blobs are
// marked), a wait past the grace period, a preview and a run (its blobs
// go); posts a crew form without its CSRF token, and logs out. Then the member signs in and is
// refused. Prints one JSON line of what happened; the caller judges it.
// On a browser failure: a screenshot and the page's HTML under
// $OAUTH_ARTIFACTS, exit 1 (browser-signin.mjs).
import { execFileSync } from 'node:child_process'
import { openBrowser } from './browser-signin.mjs'

const [hold, owner, ownerPassword, member, memberDid, memberPassword, pushScript, dropScript] = process.argv.slice(2)
if (!dropScript) {
  console.error('usage: admin-browser.mjs <hold_url> <owner_handle> <owner_password> <member_handle> <member_did> <member_password> <push_script> <drop_script>')
  process.exit(2)
}
const signIn = { redirectPath: '/admin/auth/callback' }
const result = {}

// run(script, ...args): did it succeed?
function run(script, ...args) {
  try {
    execFileSync(script, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    return true
  } catch {
    return false
  }
}

const b = await openBrowser('admin')
const page = b.page
const step = async (what, fn) => {
  try {
    return await fn()
  } catch (e) {
    await b.fail(what, e)
  }
}
// Submits the form whose button is `button` and waits for the page it lands on.
const submit = (button) => Promise.all([page.waitForNavigation(), page.locator(button).first().click()])

await step('opening the panel signed out', async () => {
  await page.goto(`${hold}/admin/crew`)
  result.loginRedirect = new URL(page.url()).pathname
})
await b.signIn(hold, owner, ownerPassword, signIn)
await step('landing on the crew page', async () => {
  result.whoami = await page.locator('#whoami').textContent()
  result.landed = new URL(page.url()).pathname
})
await step('turning Bluesky posts on', async () => {
  await page.goto(`${hold}/admin/settings`)
  await page.check('#bluesky_posts')
  await submit('#save')
  result.postsOn = await page.isChecked('#bluesky_posts')
})
await step('adding the member', async () => {
  await page.goto(`${hold}/admin/crew`)
  await page.fill('#member', member)
  await submit('#add')
  result.addedNotice = await page.locator('#notice').textContent()
  result.memberListed = (await page.locator(`tr[data-did="${memberDid}"]`).count()) === 1
})
result.pushAfterAdd = run(pushScript, 'allowed')
await step('reading the storage page', async () => {
  await page.goto(`${hold}/admin/storage`)
  result.storageBlobs = await page.locator('#blobs').textContent()
  result.storageUsage = await page.locator('#usage').textContent()
  result.storageRepositories = await page.locator('#repositories').textContent()
  await page.goto(`${hold}/admin/crew`)
})
await step('removing the member', async () => {
  await submit(`tr[data-did="${memberDid}"] form.remove button`)
  result.removedNotice = await page.locator('#notice').textContent()
  result.memberListedAfterRemove = (await page.locator(`tr[data-did="${memberDid}"]`).count()) === 1
})
result.pushAfterRemove = run(pushScript, 'refused')
result.imageDropped = run(dropScript)
// The GC page: what a preview lists (kinds), what a run's notice says.
const cells = (table) => page.locator(`#${table} tr td:first-child`).allTextContents()
await step('gc: the first preview', async () => {
  await page.goto(`${hold}/admin/gc`)
  await submit('#gc-preview')
  result.gcPreview = await page.locator('#gc-summary').textContent()
  result.gcPreviewKinds = await cells('gc-items')
})
await step('gc: the first run', async () => {
  await submit('#gc-run')
  result.gcRun1 = await page.locator('#notice').textContent()
})
await page.waitForTimeout(3000) // past the grace period: the marked blobs may go
await step('gc: the second preview', async () => {
  await submit('#gc-preview')
  result.gcPreview2Kinds = await cells('gc-items')
  result.gcPreview2Reasons = await page.locator('#gc-items tr td:last-child').allTextContents()
})
await step('gc: the second run', async () => {
  await submit('#gc-run')
  result.gcRun2 = await page.locator('#notice').textContent()
  result.gcRuns = await page.locator('#gc-runs tr.run').count()
  result.gcPreviews = await page.locator('#gc-runs tr.preview').count()
  result.gcLastKinds = await cells('gc-last-items')
})
await step('posting a form without its CSRF token', async () => {
  // The browser's own cookie goes along (page.request shares the context).
  const r = await page.request.post(`${hold}/admin/crew/add`, {
    form: { member: memberDid, role: 'write', permissions: 'blob:write' },
    maxRedirects: 0,
  })
  result.noCsrfStatus = r.status()
})
await step('logging out', async () => {
  await Promise.all([page.waitForURL((u) => u.pathname === '/admin/auth/login'),
    page.getByRole('button', { name: /log out/i }).click()])
  await page.goto(`${hold}/admin/crew`)
  result.afterLogout = new URL(page.url()).pathname
})
await b.close()

// Someone else signs in: a 403 page, and no session.
const other = await openBrowser('admin-member')
await other.page.goto(`${hold}/admin`).catch((e) => other.fail('opening the panel as the member', e))
await other.signIn(hold, member, memberPassword, { ...signIn, refused: true })
try {
  result.memberError = await other.page.locator('#error').textContent()
  const again = await other.page.goto(`${hold}/admin/crew`)
  result.memberAfter = new URL(other.page.url()).pathname
  result.memberAfterStatus = again.status()
} catch (e) {
  await other.fail('reading the refusal', e)
}
await other.close()
console.log(JSON.stringify(result))
