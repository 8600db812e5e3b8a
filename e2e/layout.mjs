// The watch page's layout (issue 13 item 2) in one language, at a desktop
// (1280×800) and a phone (375×812) size, on a live channel whose chat holds
// about 30 messages. Desktop: the stage is 16:9 (no bars from stretching),
// the message list scrolls while the chat input stays on screen, the title,
// the live badge and Follow are in the first screen, theatre keeps all that.
// Phone: the stage is on top at full width, at least 10 messages are wholly
// visible with the drawer closed, the gifts are out of sight until the
// "Gifts" button opens the bottom drawer (then visible, focus inside),
// Escape and the backdrop close it (focus back on the button). Both: two
// errors in a row (a chat refusal, then gift errors) leave exactly one
// message on screen (the toast).
// Usage: node e2e/layout.mjs BASE_URL SLUG VIEWER LANG [SHOT_DIR]
// (the viewer's password is NAME-password; the viewer holds some coins).
import { launch, say } from './browser.mjs';

const [base, slug, viewerName, lang, shots] = process.argv.slice(2);

// rect of a selector's element in viewport pixels, or null.
const rectOf = (page, sel) => page.evaluate((s) => {
  const el = document.querySelector(s);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height };
}, sel);
const ratio = (r) => (r.width / r.height).toFixed(4);
const ratioOK = (r) => Math.abs(r.width / r.height - 16 / 9) / (16 / 9) <= 0.01;

// Every element that shows a message to the viewer and is on screen now.
const shownMessages = (page) => page.evaluate(() => [...document.querySelectorAll('.toast, #chat-status, #gift-status, #player-notice, [role="status"], [role="alert"]')]
  .filter((el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden' && el.textContent.trim() !== ''; })
  .map((el) => el.id || el.className));

const browser = await launch();
try {
  for (const [w, h] of [[1280, 800], [375, 812]]) {
    const size = `${w}x${h}`;
    const phone = w <= 480;
    const ctx = await browser.newContext({ viewport: { width: w, height: h }, locale: lang });
    await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    const shot = async (name) => { if (shots) await page.screenshot({ path: `${shots}/layout-${name}-${lang}-${size}.png` }); };
    await page.goto(base + '/login');
    await page.fill('#username', viewerName);
    await page.fill('#password', viewerName + '-password');
    await page.click('#login-button');
    await page.waitForURL(base + '/account');

    await page.goto(base + '/c/' + slug);
    await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
    await page.waitForFunction(() => document.getElementById('video').currentTime > 0.3, null, { timeout: 30000 });
    await page.waitForFunction(() => document.querySelectorAll('#chat-list li').length >= 30, null, { timeout: 15000 });
    await page.waitForSelector('#gift-bar:not([hidden])', { state: 'attached', timeout: 15000 });
    await page.waitForSelector('#follow-button:not([hidden])', { timeout: 15000 });
    await page.waitForSelector('#gift-list button[data-gift="heart"]', { state: 'attached' });
    await page.waitForTimeout(300); // the last replayed line scrolls the list to its end

    const vh = await page.evaluate(() => innerHeight);
    const stage = await rectOf(page, '.stage');
    const input = await rectOf(page, '#chat-text');
    const list = await rectOf(page, '#chat-list');
    const inputShown = await page.isVisible('#chat-text') && input.top >= 0 && input.bottom <= vh;
    const scroll = await page.evaluate(() => {
      const l = document.getElementById('chat-list');
      return { scrolls: l.scrollHeight > l.clientHeight + 4, atEnd: l.scrollHeight - l.scrollTop - l.clientHeight < 4, page: document.documentElement.scrollHeight - innerHeight,
        left: Math.round(l.scrollHeight - l.scrollTop - l.clientHeight) };
    });
    // Messages wholly inside the list's visible box (and on screen).
    const lines = await page.evaluate(() => {
      const l = document.getElementById('chat-list').getBoundingClientRect();
      return [...document.querySelectorAll('#chat-list li')].filter((li) => {
        const r = li.getBoundingClientRect();
        return r.height > 0 && r.top >= l.top - 0.5 && r.bottom <= l.bottom + 0.5 && r.bottom <= innerHeight;
      }).length;
    });
    const inFirstScreen = async (sel) => { const r = await rectOf(page, sel); return await page.isVisible(sel) && r.top >= 0 && r.bottom <= vh; };

    if (!phone) {
      const above = { title: await inFirstScreen('#title'), badge: await inFirstScreen('#badge'), follow: await inFirstScreen('#follow-button') };
      const chatBox = await rectOf(page, '.chat');
      say(`${size} DESKTOP stage=${Math.round(stage.width)}x${Math.round(stage.height)} ratio=${ratio(stage)} ratio_ok=${ratioOK(stage)} ` +
        `list_scrolls=${scroll.scrolls} list_at_end=${scroll.atEnd} input_visible=${inputShown} page_scroll=${scroll.page} ` +
        `title_above_fold=${above.title} badge_above_fold=${above.badge} follow_above_fold=${above.follow} lines=${lines} below_end=${scroll.left}px ` +
        `chat_beside=${chatBox.left >= stage.right && chatBox.bottom <= vh} gifts_inline=${await page.isVisible('#gift-list button[data-gift="heart"]')} ` +
        `drawer_button=${await page.isVisible('#drawer-gifts')}`);
      await shot('desktop');

      // Theatre: the stage grows and stays 16:9; the chat input stays on
      // screen. The viewer scrolled the chat up first: it stays where they
      // read, though the list changed size.
      await page.click('#title');
      await page.mouse.move(list.left + list.width / 2, list.top + list.height / 2);
      await page.mouse.wheel(0, -300);
      // Wait for the (smooth) wheel scroll to finish: well up from the end
      // and no longer moving, so theatre mode meets a viewer who is reading.
      await page.waitForFunction(() => { const l = document.getElementById('chat-list'); return l.scrollHeight - l.scrollTop - l.clientHeight > 200; });
      await page.waitForFunction(async () => {
        const l = document.getElementById('chat-list');
        const a = l.scrollTop;
        await new Promise((r) => setTimeout(r, 150));
        return l.scrollTop === a;
      });
      await page.keyboard.press('t');
      await page.waitForFunction(() => document.querySelector('main.watch').classList.contains('theatre'));
      await page.waitForTimeout(200);
      const th = await rectOf(page, '.stage');
      const thInput = await rectOf(page, '#chat-text');
      say(`${size} THEATRE stage=${Math.round(th.width)}x${Math.round(th.height)} ratio_ok=${ratioOK(th)} bigger=${th.width > stage.width} ` +
        `input_visible=${thInput.bottom <= vh && thInput.top >= 0} kept_reading=${await page.evaluate(() => { const l = document.getElementById('chat-list'); return l.scrollHeight - l.scrollTop - l.clientHeight > 100; })} page_scroll=${await page.evaluate(() => document.documentElement.scrollHeight - innerHeight)}`);
      await shot('theatre');
      await page.keyboard.press('t');
      await page.waitForFunction(() => !document.querySelector('main.watch').classList.contains('theatre'));
    } else {
      const nav = await rectOf(page, 'nav.top');
      const giftsHidden = !(await page.isVisible('#gift-bar')) && !(await page.isVisible('#gift-list button[data-gift="heart"]')) && !(await page.isVisible('.dm-settings'));
      say(`${size} PHONE stage=${Math.round(stage.width)}x${Math.round(stage.height)} ratio_ok=${ratioOK(stage)} ` +
        `on_top=${Math.abs(stage.top - nav.bottom) <= 1 && stage.left === 0 && Math.round(stage.width) === w} ` +
        `lines_visible=${lines} list=${Math.round(list.height)}px input_visible=${inputShown} page_scroll=${scroll.page} ` +
        `gifts_hidden_closed=${giftsHidden} expanded=${await page.getAttribute('#drawer-gifts', 'aria-expanded')}`);
      await shot('phone-closed');

      // The Gifts button opens the drawer; focus moves in.
      await page.click('#drawer-gifts');
      await page.waitForSelector('#gift-list button[data-gift="heart"]', { state: 'visible' });
      await page.waitForFunction(() => getComputedStyle(document.getElementById('room-drawer')).transform === 'none');
      const drawer = await rectOf(page, '#room-drawer');
      const focusIn = await page.evaluate(() => document.getElementById('room-drawer').contains(document.activeElement));
      say(`${size} DRAWER_OPEN gifts_visible=${await page.isVisible('#gift-bar')} heart_visible=${await page.isVisible('#gift-list button[data-gift="heart"]')} ` +
        `tiers=${await page.locator('#tier-buttons button').count()} on_screen=${drawer.bottom <= vh + 1 && drawer.top >= 0} ` +
        `focus_inside=${focusIn} expanded=${await page.getAttribute('#drawer-gifts', 'aria-expanded')}`);
      await shot('phone-drawer');

      await page.keyboard.press('Escape');
      await page.waitForSelector('#gift-bar', { state: 'hidden' });
      const back = await page.evaluate(() => document.activeElement.id);
      say(`${size} DRAWER_ESC closed=${!(await page.isVisible('#gift-bar'))} focus=${back} expanded=${await page.getAttribute('#drawer-gifts', 'aria-expanded')}`);

      // ⚙ opens it at the overlay settings; a tap on the backdrop closes it.
      await page.click('#drawer-settings');
      await page.waitForSelector('#dm-opacity', { state: 'visible' });
      await page.waitForFunction(() => getComputedStyle(document.getElementById('room-drawer')).transform === 'none');
      const settingsFocus = await page.evaluate(() => document.activeElement.tagName);
      await shot('phone-settings');
      await page.mouse.click(w / 2, 40);
      await page.waitForSelector('#dm-opacity', { state: 'hidden' });
      say(`${size} DRAWER_SETTINGS opened=true focus=${settingsFocus} closed_by_backdrop=true`);
    }

    // Errors in a row, from the chat and from the gifts: one message on
    // screen, the last one. The chat refuses a line over the channel's
    // length limit (the test set it low).
    // (The input stops typing at the limit; a pasted or scripted value may
    // still be longer, which the page refuses before sending.)
    await page.evaluate(() => document.getElementById('chat-text').removeAttribute('maxlength'));
    await page.fill('#chat-text', 'this line is longer than the channel allows');
    await page.click('#chat-send');
    await page.waitForFunction(() => document.getElementById('chat-status').textContent !== '' && document.getElementById('toast').dataset.kind === 'error', null, { timeout: 10000 });
    const chatRefusal = await page.textContent('#toast');
    if (phone) {
      await page.click('#drawer-gifts');
      await page.waitForSelector('#gift-list button[data-gift="heart"]', { state: 'visible' });
      await page.waitForFunction(() => getComputedStyle(document.getElementById('room-drawer')).transform === 'none');
    }
    await page.fill('#gift-count-custom', '0');
    await page.click('#gift-list button[data-gift="heart"]');
    await page.waitForFunction((c) => document.getElementById('toast').textContent !== c, chatRefusal);
    const first = await page.textContent('#toast');
    await page.fill('#gift-count-custom', '9999');
    await page.click('#gift-list button[data-gift="castle"]');
    await page.waitForFunction((f) => { const el = document.getElementById('toast'); return el.textContent !== '' && el.textContent !== f; }, first);
    const shown = await shownMessages(page);
    const toastText = await page.textContent('#toast');
    say(`${size} CHAT_REFUSAL ${JSON.stringify(chatRefusal)} gift_error=${JSON.stringify(first)}`);
    say(`${size} TOASTS shown=${JSON.stringify(shown)} count=${shown.length} kind=${await page.getAttribute('#toast', 'data-kind')} ` +
      `text=${JSON.stringify(toastText)} gift_status_matches=${toastText === await page.textContent('#gift-status')}`);
    await shot(phone ? 'phone-toast' : 'desktop-toast');
    await page.fill('#gift-count-custom', '');
    await ctx.close();
  }
  // Other shapes of screen: a small laptop, a tablet standing up, a phone
  // lying down. The stage stays 16:9, the chat input on screen, nothing
  // wider than the screen and no page scroll.
  for (const [w, h] of [[1024, 768], [768, 1024], [812, 375]]) {
    const size = `${w}x${h}`;
    const ctx = await browser.newContext({ viewport: { width: w, height: h }, locale: lang });
    await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    await page.goto(base + '/login');
    await page.fill('#username', viewerName);
    await page.fill('#password', viewerName + '-password');
    await page.click('#login-button');
    await page.waitForURL(base + '/account');
    await page.goto(base + '/c/' + slug);
    await page.waitForSelector('body[data-state="live"]', { timeout: 30000 });
    await page.waitForFunction(() => document.querySelectorAll('#chat-list li').length >= 30, null, { timeout: 15000 });
    await page.waitForSelector('#gift-bar:not([hidden])', { state: 'attached', timeout: 15000 });
    await page.waitForTimeout(300);
    const stage = await rectOf(page, '.stage');
    const input = await rectOf(page, '#chat-text');
    const m = await page.evaluate(() => ({ wide: document.documentElement.scrollWidth, scroll: document.documentElement.scrollHeight - innerHeight }));
    say(`${size} OTHER ratio_ok=${ratioOK(stage)} input_visible=${await page.isVisible('#chat-text') && input.bottom <= h && input.top >= 0} ` +
      `scroll_width_ok=${m.wide <= w} page_scroll=${m.scroll} drawer_button=${await page.isVisible('#drawer-gifts')}`);
    if (shots) await page.screenshot({ path: `${shots}/layout-other-${lang}-${size}.png` });
    await ctx.close();
  }
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
