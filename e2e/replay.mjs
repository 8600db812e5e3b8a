// The replay page at a desktop and a phone size, in one language: the
// recording plays from the start, seeks, plays to its end; the danmaku
// sent live at time T shows in the overlay within 0.5 s of T; the density
// slider and overlay switch are there; the channel page lists the replay
// and the owner's studio Replays tab shows it with its length and size.
// The seek bar shows a thumbnail where the pointer is and the chapters as
// marks; the chapter list seeks. With "quick" (a clip): the desktop size
// only, playing, the danmaku and the end.
// Usage: node e2e/replay.mjs BASE_URL REPLAY_ID MESSAGE_ID T_MS SLUG OWNER LANG [SHOT_DIR] [quick]
// (the owner's password is OWNER-password).
import { launch, say } from './browser.mjs';

const [base, id, msgId, tMs, slug, owner, lang, shots, mode] = process.argv.slice(2);
const quick = mode === 'quick';
const T = Number(tMs);

const browser = await launch();
try {
  for (const [w, h] of quick ? [[1280, 800]] : [[1280, 800], [375, 812]]) {
    const size = `${w}x${h}`;
    const ctx = await browser.newContext({ viewport: { width: w, height: h } });
    await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') say('CONSOLE ' + m.text()); });
    const shot = async (name) => { if (shots) await page.screenshot({ path: `${shots}/replay${quick ? '-clip' : ''}-${name}-${lang}-${size}.png`, fullPage: true }); };

    await page.goto(base + '/v/' + id);
    await page.waitForSelector('main[data-ready="1"]', { timeout: 20000 });
    await page.waitForFunction(() => document.getElementById('video').readyState >= 2 && document.getElementById('video').duration > 0, null, { timeout: 20000 });
    const dur = await page.evaluate(() => document.getElementById('video').duration);
    say(`${size} DURATION ${dur.toFixed(3)} title=${await page.textContent('#replay-title')} count=${await page.textContent('#replay-count')}`);

    // From the start: time advances.
    await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; return v.play(); });
    await page.waitForFunction(() => document.getElementById('video').currentTime > 1, null, { timeout: 20000 });
    say(`${size} PLAYING from the start`);

    // Seek to 2 s before the danmaku; it must fly within 0.5 s of its point.
    await page.evaluate((s) => { window.__replayShown = []; document.getElementById('video').currentTime = s; }, Math.max(0, T / 1000 - 2));
    await page.waitForFunction((mid) => window.__replayShown.some((x) => x.id === mid), msgId, { timeout: 20000 });
    const seen = await page.evaluate((mid) => window.__replayShown.find((x) => x.id === mid), msgId);
    const onScreen = await page.isVisible(`#danmaku-layer .dm[data-id="${msgId}"]`);
    const off = Math.abs(seen.at - T);
    say(`${size} DANMAKU t=${seen.t} shown at=${seen.at} off=${off}ms onscreen=${onScreen}`);
    if (off <= 500 && onScreen) say(`${size} DANMAKU_OK`);
    await page.waitForTimeout(700); // let it fly into view for the picture
    await shot('danmaku');

    // Seek near the end and play to it.
    await page.evaluate(() => { const v = document.getElementById('video'); v.currentTime = v.duration - 2.5; });
    await page.waitForFunction(() => document.getElementById('video').ended, null, { timeout: 30000 });
    const endAt = await page.evaluate(() => document.getElementById('video').currentTime);
    say(`${size} ENDED at ${endAt.toFixed(3)} of ${dur.toFixed(3)}`);
    if (Math.abs(endAt - dur) < 0.5) say(`${size} PLAYED_TO_END`);

    if (quick) { await ctx.close(); continue; }

    // Chapters: marks on the seek bar, a list that seeks.
    await page.waitForSelector('#chapters:not([hidden]) .chapter-jump');
    const chapters = await page.$$eval('#chapter-list .chapter-jump', (bs) => bs.map((b) => b.textContent.trim()));
    const marks = await page.$$eval('#timeline-marks .timeline-mark', (ms) => ms.length);
    await page.click('#chapter-list li:first-child .chapter-jump');
    await page.waitForFunction(() => Math.abs(document.getElementById('video').currentTime - 3) < 0.6, null, { timeout: 10000 });
    say(`${size} CHAPTERS ${JSON.stringify(chapters)} marks=${marks}`);
    if (chapters.length === 2 && marks === 2) say(`${size} CHAPTERS_OK`);
    await page.evaluate(() => document.getElementById('video').pause());

    // One control bar, ours (the browser's would cover the overlay): play
    // and pause by the button, speed, arrow keys, the time.
    {
      const v = () => page.evaluate(() => { const x = document.getElementById('video'); return { paused: x.paused, t: x.currentTime, rate: x.playbackRate, native: x.controls }; });
      await page.click('#rb-play');
      await page.waitForFunction(() => !document.getElementById('video').paused, null, { timeout: 10000 });
      const playLabel = await page.getAttribute('#rb-play', 'aria-label');
      await page.click('#rb-play');
      await page.waitForFunction(() => document.getElementById('video').paused, null, { timeout: 10000 });
      await page.selectOption('#rb-speed', '1.5');
      const before = (await v()).t;
      await page.evaluate(() => document.activeElement && document.activeElement.blur());
      await page.keyboard.press('ArrowRight');
      await page.waitForFunction((b) => document.getElementById('video').currentTime > b + 4, before, { timeout: 10000 });
      const after = await v();
      const time = await page.textContent('#rb-time');
      const fits = await page.evaluate(() => { const r = document.getElementById('rb').getBoundingClientRect(); return r.right <= innerWidth + 1 && document.documentElement.scrollWidth <= innerWidth + 1; });
      say(`${size} CONTROLS native=${after.native} rate=${after.rate} jump=${(after.t - before).toFixed(1)} time="${time}" pause_label="${playLabel}" fits=${fits}`);
      if (!after.native && after.rate === 1.5 && Math.abs(after.t - before - 5) < 0.6 && /\d:\d\d \/ \d:\d\d/.test(time) && fits) say(`${size} CONTROLS_OK`);
      await page.locator('#rb').scrollIntoViewIfNeeded();
      await shot('controls');
      await page.selectOption('#rb-speed', '1');
    }

    // Thumbnails: hovering the seek bar shows the tile of that time.
    if (w > 600) {
      const box = await page.locator('#timeline').boundingBox();
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
      await page.waitForSelector('#timeline-thumb:not([hidden])');
      const bg = await page.$eval('#timeline-thumb', (el) => el.style.backgroundImage + ' ' + el.style.backgroundPosition);
      say(`${size} THUMB ${bg} label=${await page.textContent('#timeline-time')}`);
      const ok = await page.evaluate(async () => {
        const img = new Image();
        img.src = document.getElementById('timeline-thumb').style.backgroundImage.slice(5, -2);
        await img.decode();
        return img.naturalWidth === 1600;
      });
      if (/sprite\.jpg/.test(bg) && ok) say(`${size} THUMB_OK`);
      await shot('thumb');
      await page.mouse.move(0, 0);
    }

    // The channel page lists the replay.
    await page.goto(base + '/c/' + slug);
    await page.waitForSelector(`#replays:not([hidden]) a[href="/v/${id}"]`, { timeout: 15000 });
    say(`${size} WATCH_LIST ${await page.textContent('#replays-list li')}`);
    say('WATCH_LIST_OK');
    await page.locator('#replays').scrollIntoViewIfNeeded();
    await shot('watch-list');

    // The owner's studio tab.
    await page.goto(base + '/login');
    await page.fill('#username', owner);
    await page.fill('#password', owner + '-password');
    await page.click('#login-button');
    await page.waitForURL(base + '/account');
    await page.goto(base + '/studio/' + slug + '/replays');
    await page.waitForSelector(`#replay-rows tr[data-id="${id}"]`, { timeout: 15000 });
    const cells = await page.$$eval(`#replay-rows tr[data-id="${id}"] td`, (tds) => tds.map((td) => td.textContent.trim()));
    say(`${size} STUDIO ${JSON.stringify(cells)} switch=${await page.isChecked('#rec-enabled')}`);
    if (cells.length === 5 && /\d+:\d\d/.test(cells[2]) && /B/.test(cells[3])) say('STUDIO_OK');
    await shot('studio');

    // "Mark this moment" in the studio, offline: the refusal in the page's language.
    await page.goto(base + '/studio/' + slug);
    await page.click('#mark-button');
    await page.waitForFunction(() => document.getElementById('mark-status').textContent !== '');
    say(`${size} MARK_OFFLINE ${await page.textContent('#mark-status')}`);
    await page.locator('#mark-form').scrollIntoViewIfNeeded();
    await shot('studio-mark');

    // The owner's tools on the replay page.
    await page.goto(base + '/v/' + id);
    await page.waitForSelector('#owner-tools:not([hidden])');
    await page.locator('#owner-tools').scrollIntoViewIfNeeded();
    say(`${size} OWNER_TOOLS_OK`);
    await shot('owner');
    await ctx.close();
  }
} finally {
  await browser.close();
}
