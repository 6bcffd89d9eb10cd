// The demo a newcomer opens: clickgate --dev serves js-snippet/demo/ and the built snippet; clicking
// through the shop sends batches that the gateway accepts.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { launchBrowser, preflight, startDevGateway } from './harness.mjs'

let gw, browser

before(async () => {
  await preflight()
  gw = await startDevGateway()
  browser = await launchBrowser()
})

after(async () => {
  if (browser) await browser.close()
  if (gw) await gw.stop()
})

test('the demo page loads the snippet from the gateway and its events are accepted', async () => {
  const page = await browser.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  const res = await page.goto(gw.url + '/demo/?utm_source=readme')
  assert.equal(res.status(), 200)
  await page.waitForFunction(() => window.clickgate && !window.clickgate.q)
  await page.click('nav >> text=Products')
  await page.click('[data-add="MUG-1"]')
  await page.click('nav >> text=Cart')
  await page.click('#checkout')
  await page.click('nav >> text=Home')
  await page.click('text=Sign up for the newsletter')
  await page.click('#flush')
  await page.waitForFunction(() => /accepted/.test(document.getElementById('log').textContent), null, { timeout: 15000 })
  const lines = await page.locator('#log li').allInnerTexts()
  const text = lines.join('\n')
  assert.match(text, /fetch → 200 accepted \d+/)
  for (const name of ['Product Added', 'Order Completed', 'Newsletter Signup', 'page /demo/?view=products']) assert.ok(text.includes(name), `${name} in the demo log:\n${text}`)
  assert.doesNotMatch(text, /rejected [1-9]/)
  assert.deepEqual(await page.evaluate(() => clickgate.stats()), { queued: 0, dropped: 0, rejected: 0 })
  assert.deepEqual(errors, [])
})
