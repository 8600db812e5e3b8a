// The watch page's "Low delay" switch over a live stream: with WHEP refused
// (the browser's requests to /whep are answered 503 here) the page says so
// in one line and plays LL-HLS with the danmaku overlay over the video; the
// switch is remembered; with a WHEP server present it then plays over WebRTC.
// Usage: node e2e/lowdelay.mjs BASE LANG SLUG present|absent [SHOT_DIR]
import { launch, say } from './browser.mjs';

const [base, lang, slug, expect, shots] = process.argv.slice(2);

const browser = await launch();
try {
  const ctx = await browser.newContext({ locale: lang, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  await page.route('**/whep/**', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"busy"}' }));
  await page.goto(base + '/c/' + slug);
  await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  await page.waitForSelector('#player-bar:not([hidden])');
  await page.click('#low-delay'); // on: tries WHEP, is refused, falls back
  await page.waitForSelector('#player-notice:not([hidden])', { timeout: 10000 });
  await page.waitForSelector('main.watch[data-player="hls"]');
  await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 30000 });
  const r = await page.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    const v = box('video'), d = box('danmaku-layer');
    return {
      player: document.querySelector('main.watch').dataset.player,
      notice: document.getElementById('player-notice').textContent,
      over: Math.abs(v.left - d.left) < 1 && Math.abs(v.top - d.top) < 1 && Math.abs(v.width - d.width) < 1 && Math.abs(v.height - d.height) < 1,
      muted: document.getElementById('video').muted, unmute: !document.getElementById('unmute').hidden,
    };
  });
  if (shots) {
    for (const [w, h] of [[1280, 800], [375, 812]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${shots}/${lang}-watch-fallback-${w}x${h}.png` });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  say(`FALLBACK player=${r.player} notice=${JSON.stringify(r.notice)} overlay_over_video=${r.over} muted=${r.muted} unmute_button=${r.unmute}`);

  // The choice is remembered: a new visit starts with the switch on.
  await page.unroute('**/whep/**');
  if (expect !== 'present') {
    await page.route('**/whep/**', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{}' }));
  }
  await page.reload();
  await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  say(`REMEMBERED low_delay=${await page.isChecked('#low-delay')}`);
  if (expect === 'present') {
    await page.waitForFunction(() => { const v = document.getElementById('video'); return v.srcObject && v.videoWidth > 0 && v.currentTime > 1; }, null, { timeout: 15000 });
    const player = await page.evaluate(() => document.querySelector('main.watch').dataset.player);
    if (player !== 'whep') throw new Error('WHEP did not play: ' + (await page.textContent('#player-notice')));
    say(`WHEP_PLAYING size=${await page.evaluate(() => document.getElementById('video').videoWidth + 'x' + document.getElementById('video').videoHeight)}`);
  }
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
