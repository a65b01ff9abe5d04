// webui-browser.mjs - the AppView's web UI in a real browser (Debian's
// chromium, headless, playwright-core), signed in through the reference
// PDS's own OAuth pages (browser-signin.mjs).
//
//   node webui-browser.mjs owner <appview> <handle> <password> <repo> <word> <hold2_did> <pds_url> <did>
//   node webui-browser.mjs visitor <appview> <handle> <password> <owner_handle> <repo>
//
// owner: stars and unstars the repository (checking the record in the PDS
// with com.atproto.repo.getRecord each time), writes its README in the
// page editor (with a word to search for, and HTML and a javascript: link
// that must not survive), searches by the word and by the name, sets the
// default hold to <hold2_did> and the OCI client to podman on /settings.
// visitor: a second account sees the owner's repositories and repository.
// Prints one JSON line of what it saw, consoleErrors included (every
// console error and uncaught exception on an AppView page). Screenshots of
// each page go to $SCREENSHOTS (default /tmp).
import fs from 'node:fs'
import path from 'node:path'
import { openBrowser } from './browser-signin.mjs'

const [mode, appview, handle, password, ...rest] = process.argv.slice(2)
if (!['owner', 'visitor'].includes(mode) || !password) {
  console.error('usage: webui-browser.mjs owner|visitor <appview> <handle> <password> ...')
  process.exit(2)
}
const shots = process.env.SCREENSHOTS || '/tmp'
fs.mkdirSync(shots, { recursive: true })

const b = await openBrowser(`webui-${mode}`)
const page = b.page
const consoleErrors = []
page.on('console', (m) => {
  if (m.type() === 'error' && page.url().startsWith(appview)) consoleErrors.push(`${page.url()}: ${m.text()}`)
})
page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`))

const result = { consoleErrors }
const text = async (sel) => ((await page.locator(sel).first().textContent()) || '').trim()
const shot = async (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
async function step(what, fn) {
  try {
    await fn()
  } catch (e) {
    await b.fail(what, e)
  }
}
// Submits the form of `button` and waits for the page it leads to.
async function submit(button) {
  await Promise.all([page.waitForNavigation(), page.click(button)])
}
async function getJson(url) {
  const r = await fetch(url)
  return { status: r.status, body: await r.json().catch(() => ({})) }
}

if (mode === 'owner') {
  const [repo, word, hold2, pds, did] = rest
  const repoPath = `/r/${handle}/${repo}`
  const subject = `at://${did}/io.atcr.repo.page/${repo}`
  // The star record in the PDS: its key from listRecords, then getRecord.
  async function starRecord() {
    const list = await getJson(`${pds}/xrpc/com.atproto.repo.listRecords?repo=${did}&collection=io.atcr.sailor.star&limit=100`)
    const rec = (list.body.records || []).find((r) => r.value.subject === subject)
    if (!rec) return null
    const rkey = rec.uri.split('/').pop()
    const got = await getJson(`${pds}/xrpc/com.atproto.repo.getRecord?repo=${did}&collection=io.atcr.sailor.star&rkey=${rkey}`)
    return got.status === 200 ? { rkey, value: got.body.value } : null
  }

  await step('opening the sign-in page', () => page.goto(`${appview}/login?return_to=${encodeURIComponent(repoPath)}`))
  await b.signIn(appview, handle, password)
  await step('the repository page', async () => {
    result.landed = new URL(page.url()).pathname
    result.whoami = await text('#whoami')
    result.tags = await page.locator('#tags tr.tag').count()
    result.platforms = await text('#tags tr.tag .platforms')
    result.pull = await text('#pull-command')
    result.hold = await text('#hold')
    await shot('repository')
  })
  await step('starring', async () => {
    await submit('#star')
    result.starCount = await text('#star-count')
    result.starButton = await text('#star')
    const rec = await starRecord()
    result.starRecord = rec ? rec.value : null
    result.starRkey = rec ? rec.rkey : ''
    await shot('repository-starred')
  })
  await step('unstarring', async () => {
    await submit('#star')
    result.unstarCount = await text('#star-count')
    result.unstarButton = await text('#star')
    result.starRecordAfterUnstar = await starRecord()
    if (result.starRkey) {
      const gone = await getJson(`${pds}/xrpc/com.atproto.repo.getRecord?repo=${did}&collection=io.atcr.sailor.star&rkey=${result.starRkey}`)
      result.unstarGetRecordStatus = gone.status
    }
  })
  await step('editing the README', async () => {
    await page.goto(`${appview}${repoPath}/-/edit`)
    await shot('editor')
    await page.fill('#description',
      `# ${repo}\n\nThis image says ${word} and runs everywhere.\n\n` +
      '<script>window.injected = 1</script><img src=x onerror="window.injected = 2">\n\n' +
      '[click](javascript:window.injected=3) and [docs](https://example.com/docs)\n')
    await submit('#save')
    result.readme = await text('#readme')
    result.readmeScripts = await page.locator('#readme script, #readme img, #readme [onerror]').count()
    result.readmeLinks = await page.locator('#readme a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
    result.injected = await page.evaluate(() => window.injected || 0)
    await shot('repository-readme')
  })
  for (const [key, q] of [['searchWord', word], ['searchName', repo]]) {
    await step(`searching for ${q}`, async () => {
      await page.goto(`${appview}/search?q=${encodeURIComponent(q)}`)
      result[key] = await page.locator('#results a.repo-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
      if (key === 'searchWord') await shot('search')
    })
  }
  await step('the home page', async () => {
    await page.goto(`${appview}/`)
    result.home = await page.locator('#recent a.repo-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
    await shot('home')
  })
  await step('settings', async () => {
    await page.goto(`${appview}/settings`)
    await page.fill('#defaultHold', hold2)
    await page.selectOption('#ociClient', 'podman')
    await submit('#save')
    result.settingsSaved = (await page.locator('#saved').count()) === 1
    result.defaultHold = await page.inputValue('#defaultHold')
    result.holds = await page.locator('#holds tr.hold').count()
    result.storedOnHolds = await page.locator('#holds tr.hold td.used').evaluateAll((tds) => tds.map((td) => td.textContent.trim()))
    await shot('settings')
    await page.goto(`${appview}${repoPath}`)
    result.pullAfter = await text('#pull-command')
  })
  await step('the user page', async () => {
    await page.goto(`${appview}/u/${handle}`)
    result.userRepos = await page.locator('#repos a.repo-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
    await shot('user')
  })
} else {
  const [owner, repo] = rest
  await step('opening the sign-in page', () => page.goto(`${appview}/login?return_to=${encodeURIComponent(`/u/${owner}`)}`))
  await b.signIn(appview, handle, password)
  await step("the owner's user page", async () => {
    result.whoami = await text('#whoami')
    result.ownerRepos = await page.locator('#repos a.repo-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
    await shot('visitor-user')
  })
  await step("the owner's repository", async () => {
    await page.goto(`${appview}/r/${owner}/${repo}`)
    result.tags = await page.locator('#tags tr.tag').count()
    result.readme = await text('#readme')
    result.canEdit = (await page.locator('#edit').count()) > 0
    await shot('visitor-repository')
  })
}
console.log(JSON.stringify(result))
await b.close()
