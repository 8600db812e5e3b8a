// The studio's "Quality ladder" setting (issue 14 item 1, per channel):
// the owner opens Schedule & emotes, reads what the default means on this
// platform, picks On, sees it saved in the page's language, finds it kept
// after a reload, then picks Off. With MODE=locked (--ladder-channels=false)
// the select is greyed out and the page says the platform decides.
// Usage: node e2e/ladder_setting.mjs BASE SLUG OWNER LANG WIDTH HEIGHT MODE [SHOT_DIR]
// (the owner's password is OWNER-password; MODE is open or locked).
import { launch, say } from './browser.mjs';

const [base, slug, owner, lang, width, height, mode, shots] = process.argv.slice(2);
const size = `${width}x${height}`;
const long = { timeout: 60000 };

const browser = await launch();
let code = 0;
try {
  const ctx = await browser.newContext({ viewport: { width: Number(width), height: Number(height) } });
  await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  const shot = async (name) => {
    if (shots) await page.screenshot({ path: `${shots}/ladder-${name}-${lang}-${size}.png`, fullPage: true });
  };
  await page.goto(base + '/login');
  await page.fill('#username', owner);
  await page.fill('#password', owner + '-password');
  await page.click('#login-button');
  await page.waitForURL(base + '/account');
  await page.goto(base + '/studio/' + slug + '/channel');
  // The page marks the panel with the mode once it has read it from the API.
  await page.waitForSelector('.abr-setting[data-mode]', long);
  const read = () => page.evaluate(() => {
    const sel = document.getElementById('abr-mode');
    const why = document.getElementById('abr-unavailable');
    const box = sel.getBoundingClientRect();
    return {
      value: sel.value, disabled: sel.disabled,
      options: [...sel.options].map((o) => o.textContent).join(' / '),
      notice: why.hidden ? '' : why.textContent,
      status: document.getElementById('abr-status').textContent,
      error: document.getElementById('abr-status').classList.contains('error'),
      // The select fits the viewport and the page does not scroll sideways.
      fits: box.right <= innerWidth + 1 && box.left >= -1 && document.documentElement.scrollWidth <= innerWidth + 1,
    };
  });
  let s = await read();
  say(`${size} LOADED value=${s.value} disabled=${s.disabled} fits=${s.fits} | ${s.options} | notice=${s.notice}`);
  say(`${size} HINT ${await page.textContent('.abr-setting .hint')}`);
  if (mode === 'locked') {
    await page.locator('.abr-setting').scrollIntoViewIfNeeded();
    await shot('locked');
  } else {
    await page.selectOption('#abr-mode', 'on');
    await page.waitForFunction(() => document.getElementById('abr-status').textContent !== '', null, long);
    s = await read();
    say(`${size} SAVED_ON value=${s.value} error=${s.error} | ${s.status}`);
    await page.reload();
    await page.waitForFunction(() => !document.getElementById('abr-mode').disabled, null, long);
    s = await read();
    say(`${size} RELOADED value=${s.value}`);
    await page.evaluate(() => { document.getElementById('abr-status').textContent = ''; });
    await page.selectOption('#abr-mode', 'off');
    await page.waitForFunction(() => document.getElementById('abr-status').textContent !== '', null, long);
    s = await read();
    say(`${size} SAVED_OFF value=${s.value} error=${s.error} fits=${s.fits} | ${s.status}`);
    // Renditions: all ticked at first; untick 720p, then 480p; the last
    // one left cannot be unticked.
    const rungs = () => page.evaluate(() => [...document.querySelectorAll('#abr-rung-boxes input')]
      .map((b) => `${b.value}:${b.checked}${b.disabled ? ':locked' : ''}`).join(','));
    say(`${size} RUNGS ${await rungs()}`);
    const untick = async (name) => {
      await page.evaluate(() => { document.getElementById('abr-status').textContent = ''; });
      await page.click(`#abr-rung-boxes input[value="${name}"]`);
      await page.waitForFunction(() => document.getElementById('abr-status').textContent !== '', null, long);
      await page.waitForFunction(() => !document.getElementById('abr-rungs').disabled, null, long);
    };
    await untick('720p');
    s = await read();
    say(`${size} SAVED_RUNGS ${await rungs()} error=${s.error} | ${s.status}`);
    await page.locator('.abr-setting').scrollIntoViewIfNeeded();
    await shot('studio');
    await untick('480p');
    say(`${size} LAST_RUNG ${await rungs()}`);
  }
  say('FINISHED');
} catch (e) {
  say('SCRIPT_ERROR ' + (e && e.stack || e));
  code = 1;
} finally {
  await browser.close();
  process.exit(code);
}
