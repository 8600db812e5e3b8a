// The watch page's player controls over a live LL-HLS stream: play/pause by
// button and by Space/K, volume remembered across a reload, M mutes, F puts
// the stage (danmaku layer inside) in fullscreen, T theatre (remembered),
// picture-in-picture where the browser has it, the ? help overlay, the
// quality menu and the live badge.
// Usage: node e2e/player.mjs BASE LANG SLUG WIDTH HEIGHT [SHOT_DIR]
import { launch, say } from './browser.mjs';

const [base, lang, slug, w, h, shots] = process.argv.slice(2);
const tag = `${lang}-${w}x${h}`;

const browser = await launch();
try {
  const ctx = await browser.newContext({ locale: lang, viewport: { width: Number(w), height: Number(h) } });
  await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
  // At the phone size, play a browser without picture-in-picture: its
  // button must not show. The desktop runs use Chromium's own.
  if (w !== '1280') await ctx.addInitScript(() => Object.defineProperty(Document.prototype, 'pictureInPictureEnabled', { get: () => false }));
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  // A viewer moves the mouse over the player before clicking a control:
  // that brings back controls hidden after 3 s without the mouse.
  const press = async (sel) => { await page.hover('.stage', { position: { x: 12, y: 12 } }); await page.click(sel); };
  const ct = () => page.evaluate(() => document.getElementById('video').currentTime);
  const advancing = async () => { const a = await ct(); await page.waitForTimeout(700); return (await ct()) > a + 0.2; };
  // Paused means the element says so (a click right after the stream starts
  // may land while playback is still starting), it does not start again,
  // and its time stands still: playing would move it ~0.7 s. Time may jump
  // only by a seek: hls.js moves a paused player that fell out of the live
  // window (seen on a loaded machine: +3.1 s while paused). What was seen
  // is kept for the report when the check fails.
  const pauseSeen = [];
  const stopped = async () => {
    await page.waitForFunction(() => document.getElementById('video').paused, null, { timeout: 5000 }).catch(() => {});
    await page.waitForTimeout(200);
    const before = await page.evaluate(() => {
      const v = document.getElementById('video');
      window.__pauseCheck = { plays: 0, seeks: 0 };
      if (!v.dataset.pauseCheck) {
        v.dataset.pauseCheck = '1';
        v.addEventListener('play', () => window.__pauseCheck.plays++);
        v.addEventListener('seeking', () => window.__pauseCheck.seeks++);
      }
      return v.currentTime;
    });
    await page.waitForTimeout(700);
    const after = await page.evaluate(() => ({ t: document.getElementById('video').currentTime, paused: document.getElementById('video').paused, ...window.__pauseCheck }));
    const moved = after.t - before;
    const ok = after.paused && after.plays === 0 && (moved < 0.1 || after.seeks > 0);
    if (!ok) pauseSeen.push(`paused=${after.paused} plays=${after.plays} seeks=${after.seeks} moved=${moved.toFixed(3)}s`);
    else if (moved >= 0.1) say(`PAUSED_SEEK moved=${moved.toFixed(3)}s by a seek while paused`);
    return ok;
  };
  const open = async () => {
    await page.goto(base + '/c/' + slug);
    await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
    await page.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 30000 });
  };
  await open();
  await page.mouse.move(20, 20);
  if (shots) { await page.waitForTimeout(400); await page.screenshot({ path: `${shots}/${tag}-player.png` }); }

  // Play / pause by the button, then by keyboard (focus on the page, not a field).
  await press('#pc-play');
  const pausedBtn = await stopped();
  const labelPaused = await page.getAttribute('#pc-play', 'aria-label');
  const liveWhenPaused = await page.textContent('#pc-live-text');
  if (shots) await page.screenshot({ path: `${shots}/${tag}-paused.png` });
  await press('#pc-play');
  const resumedBtn = await advancing();
  say(`BUTTON pause_stops=${pausedBtn} play_resumes=${resumedBtn} label=${JSON.stringify(labelPaused)} badge_paused=${JSON.stringify(liveWhenPaused)}`);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('Space');
  const pausedSpace = await stopped();
  await page.keyboard.press('k');
  const resumedK = await advancing();
  await page.keyboard.press('K');
  const pausedK = await stopped();
  await page.keyboard.press('Space');
  const resumedSpace = await advancing();
  say(`KEYS space_pauses=${pausedSpace} k_resumes=${resumedK} k_pauses=${pausedK} space_resumes=${resumedSpace}`);
  if (pauseSeen.length) say(`PAUSE_FAILED ${pauseSeen.join('; ')}`);

  // Live badge: after the pauses above the player lags; the badge jumps
  // back to the live edge, where it says LIVE again.
  const lagText = await page.textContent('#pc-live-text');
  await press('#pc-live');
  // The jump is a seek plus a buffer refill: on a loaded machine it can take
  // seconds. Wait for the badge to change (or give up after 10 s and report).
  await page.waitForFunction((before) => document.getElementById('pc-live-text').textContent !== before, lagText, { timeout: 10000 }).catch(() => {});
  await page.waitForTimeout(300);
  const liveText = await page.textContent('#pc-live-text');
  const lag = await page.evaluate(() => { const v = document.getElementById('video'); const s = v.seekable; return s.length ? (s.end(s.length - 1) - v.currentTime).toFixed(1) : 'none'; });
  say(`LIVE after_pauses=${JSON.stringify(lagText)} badge=${JSON.stringify(liveText)} behind_seekable_end=${lag}s`);

  // M toggles mute; the volume slider at 30 % persists across a reload.
  const m0 = await page.evaluate(() => document.getElementById('video').muted);
  await page.keyboard.press('m');
  const m1 = await page.evaluate(() => document.getElementById('video').muted);
  await page.keyboard.press('m');
  const m2 = await page.evaluate(() => document.getElementById('video').muted);
  say(`MUTE_KEY before=${m0} after_m=${m1} after_mm=${m2}`);
  await page.evaluate(() => { const v = document.getElementById('pc-volume'); v.value = '30'; v.dispatchEvent(new Event('input', { bubbles: true })); });
  const vol = await page.evaluate(() => [document.getElementById('video').volume, document.getElementById('video').muted]);
  say(`VOLUME set=${vol[0]} muted=${vol[1]} stored=${await page.evaluate(() => localStorage.getItem('lh-volume'))}`);
  await open();
  const before = await page.evaluate(() => [document.getElementById('video').volume, document.getElementById('video').muted]);
  await page.mouse.click(5, 5); // a gesture anywhere
  const after = await page.evaluate(() => [document.getElementById('video').volume, document.getElementById('video').muted]);
  say(`RELOAD volume=${before[0]} muted_before_gesture=${before[1]} volume_after_gesture=${after[0]} muted_after_gesture=${after[1]} slider=${await page.inputValue('#pc-volume')}`);

  // Quality menu.
  await press('#pc-quality');
  const items = await page.$$eval('#pc-quality-menu [role="menuitemradio"]', (els) => els.map((e) => e.textContent + (e.getAttribute('aria-checked') === 'true' ? '*' : '')));
  if (shots) await page.screenshot({ path: `${shots}/${tag}-quality.png` });
  await page.keyboard.press('Escape');
  say(`QUALITY items=${JSON.stringify(items)} closed=${await page.isHidden('#pc-quality-menu')}`);

  // ? opens the help overlay, Esc closes it.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('?');
  const helpOpen = await page.isVisible('#pc-help-box');
  const helpRows = await page.$$eval('#pc-help-list dt', (els) => els.length);
  if (shots) await page.screenshot({ path: `${shots}/${tag}-help.png` });
  await page.keyboard.press('Escape');
  say(`HELP open=${helpOpen} rows=${helpRows} closed_by_esc=${await page.isHidden('#pc-help-box')}`);

  // T theatre, remembered across a reload, and T again leaves it.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('t');
  const th1 = await page.evaluate(() => document.querySelector('main.watch').classList.contains('theatre'));
  if (shots) await page.screenshot({ path: `${shots}/${tag}-theatre.png` });
  await open();
  const th2 = await page.evaluate(() => document.querySelector('main.watch').classList.contains('theatre'));
  await press('#pc-theatre');
  const th3 = await page.evaluate(() => document.querySelector('main.watch').classList.contains('theatre'));
  say(`THEATRE on=${th1} remembered=${th2} off_by_button=${th3 === false}`);

  // F fullscreen: the stage, danmaku layer inside.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('f');
  await page.waitForFunction(() => !!document.fullscreenElement, null, { timeout: 5000 });
  const fs = await page.evaluate(() => {
    const el = document.fullscreenElement;
    return { stage: el === document.querySelector('.stage'), danmaku: el.contains(document.getElementById('danmaku-layer')), controls: el.contains(document.getElementById('pc')) };
  });
  if (shots) { await page.waitForTimeout(500); await page.screenshot({ path: `${shots}/${tag}-fullscreen.png` }); }
  await page.keyboard.press('f');
  await page.waitForFunction(() => !document.fullscreenElement, null, { timeout: 5000 });
  say(`FULLSCREEN stage=${fs.stage} danmaku_inside=${fs.danmaku} controls_inside=${fs.controls} exited=true`);

  // Picture-in-picture where the browser has it; else the button is hidden.
  const pipEnabled = await page.evaluate(() => !!document.pictureInPictureEnabled);
  const pipHidden = await page.isHidden('#pc-pip');
  if (pipEnabled) {
    await press('#pc-pip');
    await page.waitForFunction(() => !!document.pictureInPictureElement, null, { timeout: 5000 }).catch(() => {});
    const inPip = await page.evaluate(() => document.pictureInPictureElement === document.getElementById('video'));
    say(`PIP supported=true entered=${inPip} button_hidden=${pipHidden}`);
    if (inPip) await page.evaluate(() => document.exitPictureInPicture());
  } else {
    say(`PIP supported=false button_hidden=${pipHidden}`);
  }

  // The controls hide after 3 s without the mouse while playing.
  await page.mouse.move(Number(w) / 2, 100);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.waitForFunction(() => document.querySelector('.stage').classList.contains('pc-idle'), null, { timeout: 6000 });
  await page.mouse.move(Number(w) / 2 + 10, 110);
  const back = await page.evaluate(() => !document.querySelector('.stage').classList.contains('pc-idle'));
  say(`AUTOHIDE hid=true back_on_move=${back}`);

  // Every control has a name and fits the screen.
  const a11y = await page.evaluate(() => {
    const els = [...document.querySelectorAll('#pc > button, #pc > input, .pc-quality > button')].filter((e) => e.checkVisibility());
    const unnamed = els.filter((e) => !(e.getAttribute('aria-label') || '').trim()).map((e) => e.id);
    const bar = document.getElementById('pc').getBoundingClientRect();
    const out = els.filter((e) => { const r = e.getBoundingClientRect(); return r.right > bar.right + 1 || r.left < bar.left - 1; }).map((e) => e.id);
    return { n: els.length, unnamed, out };
  });
  say(`A11Y controls=${a11y.n} unnamed=${JSON.stringify(a11y.unnamed)} outside=${JSON.stringify(a11y.out)}`);

  // "Low delay" (WHEP) on: the quality menu says so. Once, at the desktop size.
  if (w === '1280') {
    await press('#low-delay');
    await page.waitForFunction(() => { const v = document.getElementById('video'); return document.querySelector('main.watch').dataset.player === 'whep' && v.srcObject && v.currentTime > 0.5; }, null, { timeout: 15000 });
    say(`QUALITY_WHEP button=${JSON.stringify(await page.textContent('#pc-quality'))} live=${JSON.stringify(await page.textContent('#pc-live-text'))}`);
    await press('#low-delay');
  }
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
