// The studio's stream-health panel over a live stream, in one language, at
// 1280 px and at 375 px: facts filled in, three chart canvases drawing the
// last minutes, nothing wider than the screen.
// Usage: node e2e/studio_health.mjs BASE LANG SLUG USER PASSWORD [SHOT_DIR]
// Prints: HEALTH lang=… width=… source=health|basic video=… resolution=…
// audio=… keyframes=… canvases=N points=N scroll_width=N warnings=[…]
import { launch, say } from './browser.mjs';

const [base, lang, slug, user, password, shots] = process.argv.slice(2);

const browser = await launch();
try {
  const ctx = await browser.newContext({ locale: lang, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  await page.goto(base + '/login');
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL(base + '/account');

  await page.goto(base + '/studio/' + slug);
  await page.waitForSelector('#health[data-state="live"]', { timeout: 30000 });
  // The other ways in: WHIP and SRT addresses under the OBS server.
  await page.click('.other-ingest summary');
  say(`INGEST whip=${await page.inputValue('#whip-url')} srt=${await page.inputValue('#srt-url')}`);
  if (shots) await page.locator('#h-setup').locator('..').screenshot({ path: `${shots}/${lang}-studio-setup.png` });
  for (const [w, h] of [[1280, 800], [375, 812]]) {
    await page.setViewportSize({ width: w, height: h });
    // Let the charts take the new width and gather a few seconds of points.
    await page.waitForTimeout(3500);
    const r = await page.evaluate(() => {
      const text = (id) => document.getElementById(id).textContent.trim();
      const canvases = [...document.querySelectorAll('#health .chart canvas')].filter((c) => c.width > 0 && c.height > 0);
      const chart = document.getElementById('chart-bitrate').getBoundingClientRect();
      return {
        source: document.getElementById('health').dataset.source,
        video: text('fact-video'), resolution: text('fact-resolution'), audio: text('fact-audio'),
        keyframes: text('fact-keyframes'), protocol: text('fact-protocol'),
        bitrate: text('chart-bitrate-now'),
        canvases: canvases.length,
        chartInside: chart.right <= document.documentElement.clientWidth + 1 && chart.width > 100,
        warnings: [...document.querySelectorAll('#health-warnings li')].map((li) => li.dataset.code),
        scrollWidth: document.documentElement.scrollWidth,
      };
    });
    // The bitrate chart has points: its "now" figure is a number.
    const points = /\d/.test(r.bitrate) ? 1 : 0;
    if (shots) {
      await page.locator('#health').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${shots}/${lang}-studio-health-${w}x${h}.png`, fullPage: w < 800 ? false : false });
      await page.locator('#health').screenshot({ path: `${shots}/${lang}-studio-health-panel-${w}.png` });
    }
    say(`HEALTH lang=${lang} width=${w} source=${r.source} video=${JSON.stringify(r.video)} resolution=${JSON.stringify(r.resolution)} ` +
      `audio=${JSON.stringify(r.audio)} keyframes=${JSON.stringify(r.keyframes)} protocol=${JSON.stringify(r.protocol)} ` +
      `bitrate=${JSON.stringify(r.bitrate)} canvases=${r.canvases} chart_inside=${r.chartInside} points=${points} ` +
      `scroll_width=${r.scrollWidth} warnings=${JSON.stringify(r.warnings)}`);
  }
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
