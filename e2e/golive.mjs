// "Go live from this browser" with Chromium's fake camera and microphone:
// the panel, the device pickers, the preview, Start; then a second browser
// watches in "Low delay" (WHEP) and in LL-HLS; Stop ends the stream.
// Usage: node e2e/golive.mjs BASE LANG SLUG USER PASSWORD STREAM_KEY present|absent [SHOT_DIR]
// With "absent" (no WHIP server in this build) it checks only that the
// page explains the refusal: WHIP_ABSENT state="…".
import { launch, say } from './browser.mjs';

const [base, lang, slug, user, password, key, expect, shots] = process.argv.slice(2);
const fake = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  // A LAN name over plain HTTP (not a secure context): see the end.
  '--host-resolver-rules=MAP livehouse.test 127.0.0.1'];

const browser = await launch(fake);
try {
  const open = async () => {
    const ctx = await browser.newContext({ locale: lang, viewport: { width: 1280, height: 800 } });
    await ctx.grantPermissions(['camera', 'microphone'], { origin: base });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    return page;
  };
  const shot = async (page, name) => {
    if (!shots) return;
    for (const [w, h] of [[1280, 800], [375, 812]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${shots}/${lang}-${name}-${w}x${h}.png` });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };

  const studio = await open();
  await studio.goto(base + '/login');
  await studio.fill('#username', user);
  await studio.fill('#password', password);
  await studio.click('#login-button');
  await studio.waitForURL(base + '/account');
  await studio.goto(base + '/studio/' + slug);
  await studio.click('#golive-open');
  await studio.waitForSelector('#browser-live[data-state="preview"]', { timeout: 15000 });
  await studio.waitForFunction(() => document.getElementById('bl-preview').videoWidth > 0, null, { timeout: 15000 });
  // Another camera from the picker applies to the preview (and, live, to the stream).
  const cams = await studio.$$eval('#bl-camera option', (o) => o.map((x) => x.value));
  const mics = await studio.$$eval('#bl-mic option', (o) => o.map((x) => x.value));
  if (cams.length > 1) {
    await studio.selectOption('#bl-camera', cams[1]);
    await studio.waitForSelector('#browser-live[data-state="preview"]');
  }
  const size = await studio.evaluate(() => { const v = document.getElementById('bl-preview'); return v.videoWidth + 'x' + v.videoHeight; });
  const audio = await studio.evaluate(() => document.getElementById('bl-preview').srcObject.getAudioTracks().length);
  say(`PANEL camera_options=${cams.length} mic_options=${mics.length} preview=${size} audio_tracks=${audio}`);

  // This tab was not the one that made the key: paste it.
  if (await studio.isVisible('#bl-key-row')) await studio.fill('#bl-key', key);
  await studio.click('#bl-start');
  if (expect === 'absent') {
    await studio.waitForSelector('#browser-live[data-state="failed"]', { timeout: 15000 });
    await shot(studio, 'golive-refused');
    say(`WHIP_ABSENT state=${JSON.stringify(await studio.textContent('#bl-state'))}`);
  } else {
    await studio.waitForSelector('#browser-live[data-state="live"]', { timeout: 20000 });
    await studio.waitForSelector('#live-badge.live', { timeout: 20000 });
    say(`WHIP_LIVE state=${JSON.stringify(await studio.textContent('#bl-state'))}`);
    await shot(studio, 'golive-live');

    // A viewer in "Low delay": WebRTC into the page's one <video>.
    const viewer = await open();
    await viewer.addInitScript(() => localStorage.setItem('lh-low-delay', '1'));
    await viewer.goto(base + '/c/' + slug);
    await viewer.waitForSelector('body[data-state="live"]', { timeout: 30000 });
    await viewer.waitForSelector('main.watch[data-player="whep"]', { timeout: 10000 });
    await viewer.waitForFunction(() => { const v = document.getElementById('video'); return v.videoWidth > 0 && v.currentTime > 1; }, null, { timeout: 15000 });
    const w1 = await viewer.evaluate(() => document.getElementById('video').currentTime);
    await viewer.waitForTimeout(1500);
    const w = await viewer.evaluate(() => {
      const v = document.getElementById('video');
      return { t: v.currentTime, size: v.videoWidth + 'x' + v.videoHeight, player: document.querySelector('main.watch').dataset.player,
        notice: document.getElementById('player-notice').hidden ? '' : document.getElementById('player-notice').textContent };
    });
    if (w.player !== 'whep') throw new Error('fell back from WHEP: ' + w.notice);
    await shot(viewer, 'watch-lowdelay');
    say(`WHEP_PLAYING size=${w.size} t=${w1.toFixed(1)}->${w.t.toFixed(1)}`);

    // Low delay off: the same page plays LL-HLS.
    await viewer.click('#low-delay');
    await viewer.waitForSelector('main.watch[data-player="hls"]', { timeout: 5000 });
    await viewer.waitForFunction(() => { const v = document.getElementById('video'); return !v.srcObject && v.currentTime > 0.5; }, null, { timeout: 30000 });
    say('HLS_PLAYING');

    await studio.click('#bl-stop');
    await studio.waitForSelector('#browser-live[data-state="stopped"]', { timeout: 5000 });
    await viewer.waitForSelector('body[data-state="ended"]', { timeout: 30000 });
    say('STOPPED viewer_sees_ended');
  }

  // On a LAN name over plain HTTP the browser gives no camera: the panel
  // says why and what to do instead, in the page's language.
  const lan = base.replace('localhost', 'livehouse.test');
  const lanCtx = await browser.newContext({ locale: lang, viewport: { width: 1280, height: 800 } });
  const lanPage = await lanCtx.newPage();
  await lanPage.goto(lan + '/login');
  await lanPage.fill('#username', user);
  await lanPage.fill('#password', password);
  await lanPage.click('#login-button');
  await lanPage.waitForURL(lan + '/account');
  await lanPage.goto(lan + '/studio/' + slug);
  await lanPage.click('#golive-open');
  await lanPage.waitForSelector('#browser-live[data-state="failed"]', { timeout: 10000 });
  say(`LAN_HTTP secure=${await lanPage.evaluate(() => window.isSecureContext)} state=${JSON.stringify(await lanPage.textContent('#bl-state'))}`);
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
