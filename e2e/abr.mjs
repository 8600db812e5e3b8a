// The ABR ladder in the watch page's player: hls.js sees every rendition,
// the quality menu lists them (the publisher's own as "Source") and pins
// one, and on "Auto" a throttled network (CDP network emulation) makes
// hls.js switch down and keep playing.
// Usage: node e2e/abr.mjs BASE LANG SLUG WIDTH HEIGHT [SHOT_DIR]
import { launch, say } from './browser.mjs';

const [base, lang, slug, w, h, shots] = process.argv.slice(2);
const tag = `${lang}-${w}x${h}`;

const browser = await launch();
try {
  const ctx = await browser.newContext({ locale: lang, viewport: { width: Number(w), height: Number(h) } });
  await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
  // Keep the player's hls.js instance and count stalls (the video waiting
  // for data while it should play).
  await ctx.addInitScript(() => {
    // A stall is what hls.js reports as one: playback stopped for want of
    // buffered data (bufferStalledError), not a seek to the live edge.
    window.__stalls = 0;
    window.__log = [];
    document.addEventListener('livehouse:player', (e) => {
      const hls = e.detail.hls;
      if (!hls || hls === window.__hls) return;
      window.__hls = hls;
      hls.on('hlsError', (_, d) => { if (d.details === 'bufferStalledError') { window.__stalls++; window.__log.push('stall@' + (hls.levels[hls.currentLevel] || {}).height); } });
      hls.on('hlsLevelSwitched', (_, d) => { window.__log.push('level' + hls.levels[d.level].height); });
    });
  });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  const ct = () => page.evaluate(() => document.getElementById('video').currentTime);
  const level = () => page.evaluate(() => {
    const hls = window.__hls; const l = hls && hls.levels[hls.currentLevel];
    return { height: l ? l.height : 0, auto: hls ? hls.autoLevelEnabled : null };
  });

  await page.goto(base + '/c/' + slug);
  await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 30000 });
  await page.waitForFunction(() => window.__hls && window.__hls.levels.length >= 4, null, { timeout: 30000 });
  const heights = await page.evaluate(() => window.__hls.levels.map((l) => l.height + ':' + l.bitrate).join(' '));
  say(`LEVELS n=${await page.evaluate(() => window.__hls.levels.length)} ${heights}`);

  // The quality menu lists Auto and every rendition; choosing 360p pins it.
  await page.hover('.stage', { position: { x: 12, y: 12 } });
  await page.click('#pc-quality');
  const items = await page.$$eval('#pc-quality-menu button', (bs) => bs.map((b) => b.textContent));
  say(`QUALITY items=${JSON.stringify(items)}`);
  if (shots) await page.screenshot({ path: `${shots}/abr-${tag}-menu.png` });
  await page.click('#pc-quality-menu button:has-text("360p")');
  await page.waitForFunction(() => { const hls = window.__hls; const l = hls.levels[hls.currentLevel]; return !hls.autoLevelEnabled && l && l.height === 360; }, null, { timeout: 20000 });
  const pinned = await level();
  // A switch may cost a short stall (LL-HLS holds ~1 s): playing means the
  // picture moves on within 10 s.
  const p0 = await ct();
  const playing = await page.waitForFunction((a) => document.getElementById('video').currentTime > a + 1, p0, { timeout: 10000 }).then(() => true, () => false);
  say(`PIN height=${pinned.height} auto=${pinned.auto} playing=${playing} button=${JSON.stringify(await page.textContent('#pc-quality'))}`);

  // Back to Auto at full speed: hls.js climbs above 360p.
  await page.hover('.stage', { position: { x: 12, y: 12 } });
  await page.click('#pc-quality');
  await page.click('#pc-quality-menu button >> nth=0');
  await page.waitForFunction(() => window.__hls.autoLevelEnabled, null, { timeout: 5000 });
  await page.waitForFunction(() => { const hls = window.__hls; const l = hls.levels[hls.currentLevel]; return l && l.height > 360; }, null, { timeout: 40000 }).catch(() => {});
  const up = await level();
  say(`AUTO height=${up.height} auto=${up.auto}`);

  // Unthrottled, on Auto, for 10 s: the machine's own stalls, for reference.
  const b0 = await page.evaluate(() => window.__stalls);
  await page.waitForTimeout(10000);
  say(`BASELINE stalls_10s=${(await page.evaluate(() => window.__stalls)) - b0}`);

  // Throttle to 1.2 Mbit/s: only 360p (~0.7 Mbit/s with audio) fits.
  // Stalls while hls.js steps down are reported, not judged: LL-HLS keeps
  // about a second of buffer, less than it takes to notice the throttle.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: 1.2e6 / 8, uploadThroughput: 1e6 / 8,
  });
  const t0 = Date.now();
  const stallsBefore = await page.evaluate(() => window.__stalls);
  let down = true;
  await page.waitForFunction(() => { const hls = window.__hls; const l = hls.levels[hls.currentLevel]; return l && l.height <= 480; }, null, { timeout: 60000 }).catch(() => { down = false; });
  const switchMs = Date.now() - t0;
  // It may step through 480p (its estimate lags the throttle); once on
  // 360p, the one rendition that fits, it plays on for 10 s.
  await page.waitForFunction(() => { const hls = window.__hls; const l = hls.levels[hls.currentLevel]; return l && l.height === 360; }, null, { timeout: 60000 }).catch(() => {});
  const switched = await level();
  const settleMs = Date.now() - t0;
  await page.waitForTimeout(1000);
  const stallsSwitch = await page.evaluate(() => window.__stalls) - stallsBefore;
  const s0 = await page.evaluate(() => window.__stalls);
  const c0 = await ct();
  await page.waitForTimeout(10000);
  const played = (await ct()) - c0;
  const stallsAfter = await page.evaluate(() => window.__stalls) - s0;
  say(`THROTTLED switched_down=${down} height=${switched.height} below_720_after_ms=${switchMs} at_360_after_ms=${settleMs} stalls_while_switching=${stallsSwitch} played_10s=${played.toFixed(1)} stalls_after=${stallsAfter}`);
  say(`EVENTS ${await page.evaluate(() => window.__log.join(' '))}`);
  if (shots) await page.screenshot({ path: `${shots}/abr-${tag}-throttled.png` });
} finally {
  await browser.close();
}
