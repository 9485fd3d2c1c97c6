// Time to first render of `pyk ui`'s package list (scripts/bench-ui.sh runs it):
// node bench.mjs URL RUNS → two lines: the runs' times in ms from navigation start to the
// page's `pyk-list-rendered` mark (the rows built), then to the end of the list's
// response; then the rows rendered.
import { chromium } from 'playwright-core';

const [url, runs] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const times = [];
const fetched = [];
let rows = 0;
for (let i = 0; i < Number(runs); i++) {
  // A fresh context each run: nothing cached from the one before.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.locator('#packages').waitFor({ timeout: 60000 });
  times.push(await page.evaluate(() => performance.getEntriesByName('pyk-list-rendered')[0].startTime));
  fetched.push(await page.evaluate(() =>
    performance.getEntriesByType('resource').find(r => r.name.endsWith('/api/packages')).responseEnd));
  rows = await page.locator('#packages tbody tr').count();
  await context.close();
}
await browser.close();
console.log(times.map(t => t.toFixed(0)).join(' '));
console.log(fetched.map(t => t.toFixed(0)).join(' '), rows);
