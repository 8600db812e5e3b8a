// Drives Chromium through the watch page: offline card first, then the
// stream plays by itself once the test starts publishing, then "ended".
// Usage: node e2e/watch.mjs WATCH_URL SCREENSHOT_DIR
// It prints one line per step; the Go test reads them to know when to
// start and stop the publisher.
import { launch, say } from './browser.mjs';

const [url, shots] = process.argv.slice(2);

const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-state="offline"]', { timeout: 15000 });
  say('OFFLINE');

  await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  // Playing means currentTime moves on by itself.
  await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 30000 });
  const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
  await page.waitForTimeout(2000);
  const t2 = await page.evaluate(() => document.getElementById('video').currentTime);
  const size = await page.evaluate(() => [document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]);
  const latency = await page.evaluate(() => {
    const v = document.getElementById('video');
    return v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : -1;
  });
  if (shots) await page.screenshot({ path: shots + '/live.png' });
  say(`PLAYING ${t1.toFixed(2)} ${t2.toFixed(2)} ${size[0]}x${size[1]} buffer_ahead=${latency.toFixed(2)}`);

  await page.waitForSelector('body[data-state="ended"]', { timeout: 30000 });
  if (shots) await page.screenshot({ path: shots + '/ended.png' });
  say('ENDED ' + (await page.textContent('#card-title')));
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
