// Backup ingest as a viewer sees it: the watch page plays, the test kills
// the publisher on air, and the player must keep going. Samples the
// video's currentTime every 100 ms in the page for SECONDS after playback
// starts and reports every stall: time standing still for 500 ms or more
// (STALL_MS), listing shorter hiccups (over 300 ms) too, with when they ended.
// Usage: node e2e/failover.mjs WATCH_URL SECONDS [SHOT_DIR]
// Prints PLAYING, then (after SECONDS) STALLS count max_ms and ADVANCED s size=WxH.
import { launch, say } from './browser.mjs';

const [url, seconds, shots] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 30000 });
  // The sampler runs in the page so a slow test machine cannot miss a stall.
  await page.evaluate(() => {
    const v = document.getElementById('video');
    const s = { start: v.currentTime, last: v.currentTime, lastMove: performance.now(), stalls: [], max: 0 };
    window.__failover = s;
    setInterval(() => {
      const now = performance.now();
      if (v.currentTime !== s.last) {
        const still = now - s.lastMove;
        if (still > 300) s.stalls.push({ ms: Math.round(still), end: Date.now() });
        s.last = v.currentTime; s.lastMove = now;
      }
    }, 100);
  });
  say('PLAYING');
  await page.waitForTimeout(Number(seconds) * 1000 / 2);
  if (shots) await page.screenshot({ path: `${shots}/failover-during.png` });
  await page.waitForTimeout(Number(seconds) * 1000 / 2);
  const r = await page.evaluate(() => {
    const s = window.__failover; const v = document.getElementById('video');
    const open = performance.now() - s.lastMove; // a stall still going on
    const stalls = s.stalls.slice(); if (open > 300) stalls.push({ ms: Math.round(open), end: Date.now() });
    return { stalls, advanced: v.currentTime - s.start, state: document.body.dataset.state, size: v.videoWidth + 'x' + v.videoHeight };
  });
  if (shots) await page.screenshot({ path: `${shots}/failover-after.png` });
  const big = r.stalls.filter((x) => x.ms >= Number(process.env.STALL_MS || 500));
  say(`STALLS ${big.length} ${big.length ? Math.max(...big.map((x) => x.ms)) : 0} all=[${r.stalls.map((x) => x.ms + 'ms@' + x.end).join(',')}]`);
  say(`ADVANCED ${r.advanced.toFixed(2)} state=${r.state} size=${r.size}`);
} finally {
  await browser.close();
}
