// Drives Chromium through the watch page of a cluster: the page (served by
// the origin) plays LL-HLS from the node GET /api/play names. Each time the
// Go test takes that node away (SIGTERM: it drains; SIGKILL: it dies) it
// writes GONE <how> on stdin; the page must move to another node and keep
// playing, without a reload. The longest the picture stood still during
// each move is measured in the page (sampled every 100 ms).
// Then the admin home lists the nodes, the gone ones as silent (375 px
// wide, English and Chinese).
// Usage: node e2e/edge_failover.mjs WATCH_URL SCREENSHOT_DIR ADMIN_TOKEN
// Prints: PLAYING <node> <hls host>, then for each GONE line
// MOVED <how> <node> <ms> <longest still ms> navigations=N, or FAIL <why>.
import { createInterface } from 'node:readline';
import { launch, say } from './browser.mjs';

const [url, shots, adminToken] = process.argv.slice(2);
const stdin = createInterface({ input: process.stdin });
const gone = [];
let wake = null;
stdin.on('line', (l) => {
  const [word, how] = l.trim().split(/\s+/);
  if (word === 'GONE') { gone.push({ how, at: Date.now() }); if (wake) wake(); }
});
async function nextGone() {
  while (!gone.length) await new Promise((r) => { wake = r; });
  wake = null;
  return gone.shift();
}

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 375, height: 760 } });
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  const hosts = new Set();
  page.on('request', (r) => { if (r.url().includes('/hls/')) hosts.add(new URL(r.url()).host); });
  // Every move the page makes is logged with its reason.
  page.on('console', (m) => { if (m.text().startsWith('EDGE ')) say(m.text()); });
  await page.addInitScript(() => document.addEventListener('livehouse:edge', (e) => console.log('EDGE ' + JSON.stringify(e.detail))));
  await page.goto(url);
  await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 1 && document.querySelector('main.watch').dataset.node,
    null, { timeout: 30000 });
  const before = await page.evaluate(() => document.querySelector('main.watch').dataset.node);
  const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
  await page.waitForFunction((t) => document.getElementById('video').currentTime > t + 0.5, t1, { timeout: 8000, polling: 100 })
    .catch(() => { throw new Error('not playing before the kill: currentTime stays at ' + t1); });
  if (shots) await page.screenshot({ path: shots + '/edge-before.png' });
  say(`PLAYING ${before} ${[...hosts].join(',')}`);

  // The longest stretch the picture stood still while it should play.
  await page.evaluate(() => {
    const v = document.getElementById('video');
    let last = v.currentTime, still = 0;
    window.__longestStill = 0;
    setInterval(() => {
      if (v.paused || v.currentTime !== last) still = 0; else still += 100;
      last = v.currentTime;
      window.__longestStill = Math.max(window.__longestStill, still);
    }, 100);
  });
  let from = before;
  for (let i = 0; i < 2; i++) {
    const { how, at } = await nextGone();
    await page.evaluate(() => { window.__longestStill = 0; });
    // Moved: another node named, and the picture advances by a full second
    // after the move (not just the buffer left from the old node).
    await page.waitForFunction((old) => document.querySelector('main.watch').dataset.node !== old, from, { timeout: 10000, polling: 100 });
    const moved = await page.evaluate(() => [document.querySelector('main.watch').dataset.node, document.getElementById('video').currentTime]);
    await page.waitForFunction((t) => { const v = document.getElementById('video'); return !v.paused && v.currentTime > t + 1; },
      moved[1], { timeout: 10000, polling: 100 });
    const took = Date.now() - at;
    const still = await page.evaluate(() => window.__longestStill);
    if (shots) await page.screenshot({ path: `${shots}/edge-after-${how}.png` });
    const reloaded = await page.evaluate(() => performance.getEntriesByType('navigation').length);
    say(`MOVED ${how} ${moved[0]} ${took} ${still} navigations=${reloaded} hosts=${[...hosts].join(',')}`);
    from = moved[0];
  }

  for (const lang of ['en', 'zh-CN']) {
    const ctx = await browser.newContext({ viewport: { width: 375, height: 760 },
      extraHTTPHeaders: { Authorization: 'Bearer ' + adminToken, 'Accept-Language': lang } });
    const admin = await ctx.newPage();
    await admin.goto(new URL('/admin', url).href);
    // The gone edges read silent 3 s after their last reports.
    await admin.waitForFunction(() => document.querySelectorAll('#nodes-body tr').length === 3 &&
      document.querySelectorAll('#nodes-body .nodes-state.silent').length === 2, null, { timeout: 10000 });
    await admin.locator('.nodes-panel').scrollIntoViewIfNeeded();
    if (shots) await admin.screenshot({ path: `${shots}/nodes-${lang}.png`, fullPage: true });
    const rows = await admin.$$eval('#nodes-body tr', (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ')));
    say(`NODES ${lang} ${rows.join(' | ')}`);
    await ctx.close();
  }
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
  stdin.close();
}
