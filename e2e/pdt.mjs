// Measures how honest EXT-X-PROGRAM-DATE-TIME is: plays a channel's LL-HLS
// with hls.js (low-latency mode) and, every 200 ms for N seconds, compares
// the delay the playlist's clock implies (Date.now() - hls.playingDate)
// with the glass-to-glass delay read from the picture: the publisher burns
// its wall clock (milliseconds mod 2^32, 32 bits as 10 px black/white
// boxes along the top 16 rows) into every frame.
// Usage: node e2e/pdt.mjs BASE_URL SLUG SECONDS
// Prints "SAMPLE pdt_ms glass_ms" lines, then "DONE".
import { launch, say } from './browser.mjs';

const [base, slug, seconds] = process.argv.slice(2);
const browser = await launch();
try {
  // The test's helper script is inline; Livehouse's CSP rightly forbids that.
  const page = await browser.newPage({ bypassCSP: true });
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  await page.goto(base + '/static/vendor/VENDOR.txt'); // any page of the origin: hls.js then fetches same-origin
  await page.setContent(`<video id="v" muted autoplay playsinline></video>`);
  await page.addScriptTag({ url: base + '/static/vendor/hls.min.js' });
  await page.addScriptTag({ path: new URL('./clock.js', import.meta.url).pathname });
  await page.evaluate((src) => {
    const hls = new Hls({ lowLatencyMode: true });
    window.hls = hls;
    hls.loadSource(src);
    const v = document.getElementById('v');
    hls.attachMedia(v);
    hls.on(Hls.Events.MANIFEST_PARSED, () => v.play());
  }, base + '/hls/' + slug + '/index.m3u8');
  await page.waitForFunction(() => {
    const v = document.getElementById('v');
    return !v.paused && v.readyState >= 2 && v.currentTime > 1 && window.hls.playingDate;
  }, null, { timeout: 30000 });
  await page.waitForTimeout(2000); // let the player settle at its live edge
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    const s = await page.evaluate(() => {
      const glass = window.glassToGlassMs(document.getElementById('v'));
      return [Date.now() - window.hls.playingDate.getTime(), glass];
    });
    say(`SAMPLE ${s[0]} ${s[1]}`);
    await page.waitForTimeout(200);
  }
  say('DONE');
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
