// The bell and the Following list, in one language, at a desktop and a
// phone size: a follower sits on the home page; when the Go test makes a
// followed channel go live, the bell's badge turns 1 without a reload, the
// list says "<channel> is live", the Following list shows the channel live
// and first; "mark all read" clears the badge; the watch page has the list
// too (desktop).
// Usage: node e2e/notify.mjs BASE_URL FAN LANG SLUG_1280 SLUG_375 [SHOT_DIR]
// (the fan's password is FAN-password). Before each size it prints
// "READY <slug>" and waits for a line "LIVE <slug>" on stdin.
import { createInterface } from 'node:readline';
import { launch, say } from './browser.mjs';

const [base, fan, lang, slugWide, slugNarrow, shots] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin });
const waiting = [];
lines.on('line', (l) => { const w = waiting.shift(); if (w) w(l.trim()); });
const nextLine = () => new Promise((resolve) => waiting.push(resolve));

const browser = await launch();
try {
  for (const [w, h, slug] of [[1280, 800, slugWide], [375, 812, slugNarrow]]) {
    const size = `${w}x${h}`;
    const ctx = await browser.newContext({ viewport: { width: w, height: h } });
    await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    const shot = async (name) => { if (shots) await page.screenshot({ path: `${shots}/notify-${name}-${lang}-${size}.png` }); };
    await page.goto(base + '/login');
    await page.fill('#username', fan);
    await page.fill('#password', fan + '-password');
    await page.click('#login-button');
    await page.waitForURL(base + '/account');

    await page.goto(base + '/');
    await page.waitForSelector('#notify-bell:not([hidden]) .bell-button');
    await page.waitForSelector('#following:not([hidden]) .following-item');
    // Start from nothing unread (the other size's run left one).
    await page.click('.bell-button');
    await page.click('#notify-mark-all');
    await page.waitForFunction(() => document.getElementById('notify-count').hidden);
    await page.click('.bell-button');
    const liveBefore = await page.$$eval('#following-list .following-item.live', (els) => els.map((e) => e.dataset.slug));
    say(`${size} BEFORE badge_hidden=true live_before=${liveBefore.includes(slug)}`);
    await shot('before');

    say('READY ' + slug);
    const go = await nextLine();
    if (go !== 'LIVE ' + slug) throw new Error('unexpected line ' + go);
    const t0 = Date.now();
    await page.waitForFunction(() => document.getElementById('notify-count').textContent === '1'
      && !document.getElementById('notify-count').hidden, null, { timeout: 30000 });
    say(`${size} BADGE 1 after_ms=${Date.now() - t0} reloaded=${await page.evaluate(() => performance.getEntriesByType('navigation').length !== 1)}`);
    // The Following list: this channel live, and every live one before any offline one.
    await page.waitForFunction((s) => {
      const el = document.querySelector(`#following-list .following-item[data-slug="${s}"]`);
      return el && el.classList.contains('live');
    }, slug, { timeout: 30000 });
    const order = await page.$$eval('#following-list .following-item', (els) => els.map((e) => (e.classList.contains('live') ? 'L' : 'o')).join(''));
    say(`${size} FOLLOWING live_first=${/^L+o*$/.test(order)} order=${order} state=${await page.textContent(`#following-list .following-item[data-slug="${slug}"] .following-state`)}`);

    await page.click('.bell-button');
    await page.waitForSelector('#notify-panel:not([hidden])');
    const first = await page.textContent('#notify-list .notify-item .notify-text');
    const when = await page.textContent('#notify-list .notify-item time');
    const href = await page.getAttribute('#notify-list .notify-item a', 'href');
    say(`${size} ITEM ${first} | ${when} | ${href} | unread=${await page.$$eval('#notify-list .notify-item.unread', (e) => e.length)}`);
    say(`${size} PUSH ${await page.textContent('#notify-push-note')}`);
    // Nothing in the menu sticks out of the screen.
    const box = await page.$eval('#notify-panel', (el) => { const r = el.getBoundingClientRect(); return [r.left, r.right]; });
    say(`${size} PANEL inside=${box[0] >= 0 && box[1] <= w}`);
    await shot('bell-open');
    await page.click('#notify-mark-all');
    await page.waitForFunction(() => document.getElementById('notify-count').hidden);
    say(`${size} MARKED badge_hidden=true`);
    await page.keyboard.press('Escape');

    if (w >= 1024) {
      await page.goto(base + '/c/' + slug);
      try {
        await page.waitForSelector(`#following:not([hidden]) .following-item[data-slug="${slug}"].live`, { timeout: 20000 });
      } catch (e) {
        await shot('watch-failed');
        say('WATCH_FAILED ' + await page.evaluate(() => { const a = document.getElementById('following'); return a ? a.outerHTML.slice(0, 600) + ' rect=' + JSON.stringify(a.getBoundingClientRect()) : 'no aside'; }));
        throw e;
      }
      const aside = await page.$eval('#following', (el) => { const r = el.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.width)]; });
      const main = await page.$eval('#main .room', (el) => Math.round(el.getBoundingClientRect().left));
      // On a laptop-sized screen the list is a narrow rail of initials, so the
      // player keeps its width.
      say(`${size} WATCH aside_at_left=${aside[0] <= 12} clear=${main >= aside[0] + aside[1]} rail=${aside[1] <= 60}`);
      await shot('watch');
    }
    await ctx.close();
  }
  say('DONE');
} finally {
  lines.close();
  await browser.close();
}
