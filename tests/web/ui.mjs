// Drives `pyk ui` in Debian's chromium (tests/web.rs runs it).
//   node ui.mjs URL SCREENSHOT_DIR full                  the whole walk through the page
//   node ui.mjs URL SCREENSHOT_DIR error NAME EXPECTED   the page says EXPECTED in one line
// Every request the page makes is recorded; one that leaves 127.0.0.1 fails the run.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const [url, shots, mode, ...rest] = process.argv.slice(2);
const origin = new URL(url).origin;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const requests = [];
context.on('request', r => requests.push(r.url()));
const page = await context.newPage();
const errors = [];
page.on('pageerror', e => errors.push(e.message));
page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });

const shot = name => page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });
const text = sel => page.locator(sel).innerText();

try {
  if (mode === 'error') {
    const [name, expected] = rest;
    await page.goto(url);
    const line = page.locator('#error');
    await line.filter({ hasText: /\S/ }).waitFor({ timeout: 20000 });
    const said = await line.innerText();
    console.log(`${name}: ${said}`);
    assert.ok(said.includes(expected), `the error line does not name ${expected}: ${said}`);
    assert.ok(!said.includes('\n'), `more than one line: ${said}`);
    assert.ok(await line.isVisible(), 'the error line is hidden');
    await shot(`error-${name}`);
  } else {
    // The list, searched from the keyboard.
    await page.goto(url);
    await page.locator('#packages').waitFor();
    assert.equal(await page.locator('#packages tbody tr').count(), 2);
    const list = await text('#packages');
    assert.match(list, /geo\s+2/);
    assert.match(list, /app\s+1/);
    await shot('list');
    // The search has the focus; `/` brings it back from elsewhere.
    await page.evaluate(() => document.activeElement.blur());
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'search');
    await page.keyboard.type('ge');
    assert.equal(await page.locator('#packages tbody tr:visible').count(), 1);
    assert.ok(await page.locator('tr[data-name="app"]').isHidden());
    await page.keyboard.press('Enter');
    await page.locator('#api').waitFor();
    assert.ok(page.url().endsWith('#/lib/geo'), page.url());

    // The library: versions, signers, dependencies, commands, API.
    const versions = await text('#versions');
    assert.match(versions, /2\s+latest/);
    assert.match(versions, /1\s+yanked/);
    assert.equal(await page.locator('#versions tbody tr').count(), 2);
    assert.match(versions, /pyk-ed25519:/);
    assert.match(versions, /linux-x86_64/);
    const deps = await text('#dependencies');
    assert.match(deps.toLowerCase(), /pyyaml/);
    // The licence comes from the SBOM the build wrote (uv's lock names none).
    assert.match(deps, /MIT/);
    assert.match(await text('#platform'), /linux-x86_64/);
    const commands = await text('#commands');
    assert.ok(commands.includes('from pyk import geo'), commands);
    assert.ok(commands.includes('pyk pull --lib geo --version 2'), commands);
    await page.locator('nav.toc a', { hasText: /^distance$/ }).first().click();
    await page.waitForURL(/api\/geo\.core\.distance$/);
    const fn = page.locator('[id="d-geo.core.distance"]');
    await fn.and(page.locator('.focus')).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'd-geo.core.distance');
    const sig = await fn.locator('.sig').first().innerText();
    assert.equal(sig, 'def distance(a, b, *, scale=2.0, exact: bool = False)');
    assert.match(await fn.innerText(), /Distance between two points\./);
    await shot('api');

    // Its line in the source.
    await fn.locator('a.src-link').first().click();
    await page.locator('pre.src').waitFor();
    assert.match(await page.locator('pre.src .hit').innerText(), /def distance\(a, b, \*, scale=2\.0/);
    await page.goBack();
    await page.locator('#api').waitFor();

    // What changed from 1 to 2.
    await page.selectOption('#from', '1');
    await page.selectOption('#to', '2');
    await page.locator('#compare button').press('Enter');
    await page.locator('#changes').waitFor();
    const changed = page.locator('li[data-path="geo.core.distance"][data-change="signature"]');
    assert.equal(await changed.count(), 1);
    assert.equal(await changed.locator('.before').innerText(), '(a, b, scale=1.0)');
    assert.equal(await changed.locator('.after').innerText(), '(a, b, *, scale=2.0, exact: bool = False)');
    assert.match(await changed.innerText(), /signature changed/);
    assert.match(await changed.innerText(), /parameters added: exact/);
    assert.match(await changed.innerText(), /default of scale: 1\.0 → 2\.0/);
    assert.equal(await page.locator('li[data-path="geo.core.old"][data-change="removed"]').count(), 1);
    assert.equal(await page.locator('li[data-path="geo.core.midpoint"][data-change="added"]').count(), 1);
    assert.equal(await page.locator('li[data-path="geo.core.Point"][data-change="doc"]').count(), 1);
    assert.equal(await page.locator('[data-path="geo.core.Point.norm"]').count(), 0);
    await shot('diff-window');
    // The README's figure (docs/ui-diff.png): the difference alone.
    await page.locator('main').screenshot({ path: `${shots}/diff.png` });

    // The program's commands.
    await page.goto(`${url}#/run/app`);
    await page.locator('#commands').waitFor();
    assert.equal(await text('#commands'), 'pyk app\npyk install app\npyk pull app --version 1');

    // A phone's width, and the dark scheme.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${url}#/`);
    await page.locator('#packages').waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'wider than a phone');
    await shot('list-phone');
    const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(light, dark);
    await page.goto(`${url}#/lib/geo/diff/1/2`);
    await page.locator('#changes').waitFor();
    await shot('diff-dark-phone');
  }
  const away = requests.filter(r => !r.startsWith(origin + '/') && !r.startsWith('data:'));
  assert.deepEqual(away, [], 'requests left 127.0.0.1');
  assert.deepEqual(errors.filter(e => mode !== 'error' || !/Failed to load resource/.test(e)), [], 'page errors');
  console.log(`ok: ${requests.length} requests, all to ${origin}`);
} finally {
  await browser.close();
}
