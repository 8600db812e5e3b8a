// Safer gifting in one language, at a desktop and a phone size: a count
// picker (66 hearts charge 66 × the price), a total above the viewer's
// threshold asks first (Cancel and Esc charge nothing; Send charges), a
// total under it sends at once, the combo button repeats the same gift and
// count, a typed count outside 1..9999 and a total above the balance are
// refused in the page, and the wallet names each gift and channel and shows
// prices in yuan.
// Usage: node e2e/gifting.mjs BASE_URL SLUG VIEWER LANG [SHOT_DIR]
// (the viewer's password is NAME-password and holds enough coins).
import { launch, say } from './browser.mjs';

const [base, slug, viewerName, lang, shots] = process.argv.slice(2);

const browser = await launch();
try {
  for (const [w, h] of [[1280, 800], [375, 812]]) {
    const size = `${w}x${h}`;
    const ctx = await browser.newContext({ viewport: { width: w, height: h } });
    await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    const shot = async (name) => { if (shots) await page.screenshot({ path: `${shots}/gifting-${name}-${lang}-${size}.png`, fullPage: true }); };
    await page.goto(base + '/login');
    await page.fill('#username', viewerName);
    await page.fill('#password', viewerName + '-password');
    await page.click('#login-button');
    await page.waitForURL(base + '/account');

    // On a phone the gifts are in the bottom drawer: open it with its button.
    const openGifts = async () => {
      await page.waitForSelector('#gift-bar:not([hidden])', { state: 'attached' });
      if (await page.isVisible('#drawer-gifts')) await page.click('#drawer-gifts');
      await page.waitForSelector('#gift-bar:not([hidden])');
    };
    await page.goto(base + '/c/' + slug);
    await openGifts();
    const balance = async () => Number(await page.getAttribute('#balance', 'data-value'));
    const waitBalance = (v) => page.waitForFunction((x) => document.getElementById('balance').dataset.value === String(x), v, { timeout: 10000 });
    const dialogOpen = () => page.evaluate(() => document.getElementById('gift-confirm').open);
    const heart = '#gift-list button[data-gift="heart"]';
    const rocket = '#gift-list button[data-gift="rocket"]';

    // 1. ×66 hearts: 660 coins, under the 1,000 default: sent at once.
    let b0 = await balance();
    await page.click('#gift-count button[data-count="66"]');
    await page.hover(heart);
    say(`${size} LABEL ${await page.textContent(heart)} | TOTAL ${await page.textContent('#gift-total')}`);
    await shot('count66');
    await page.click(heart);
    await waitBalance(b0 - 660);
    say(`${size} SENT66 spent=${b0 - await balance()} dialog=${await dialogOpen()}`);

    // 2. The combo button: the same gift and count again, a new action.
    await page.waitForSelector('#gift-combo:not([hidden])');
    b0 = await balance();
    await page.click('#gift-combo');
    await waitBalance(b0 - 660);
    await page.waitForFunction(() => document.getElementById('gift-combo').dataset.combo === '2');
    say(`${size} COMBO ${await page.textContent('#gift-combo')} spent=${b0 - await balance()}`);
    await shot('combo');

    // 2b. A send whose answer is lost (the server charged, the page saw a
    // network error) is retried with the same key: charged once.
    b0 = await balance();
    let lost = 0;
    await page.route('**/api/gifts', async (route) => {
      if (lost++ === 0) { await route.fetch(); await route.abort('connectionreset'); } else await route.continue();
    });
    await page.click('#gift-count button[data-count="10"]');
    await page.click(heart);
    await page.waitForFunction(() => document.getElementById('gift-status').className === 'error');
    await page.click(heart);
    await page.waitForFunction(() => document.getElementById('gift-status').className === 'ok');
    await page.unroute('**/api/gifts');
    await page.reload();
    await openGifts();
    say(`${size} RETRY spent=${b0 - await balance()} requests=${lost}`);

    // 3. ×10 rockets = 10,000 coins: the dialog asks, focus on Cancel;
    // Cancel and then Esc charge nothing.
    b0 = await balance();
    await page.click('#gift-count button[data-count="10"]');
    await page.click(rocket);
    await page.waitForFunction(() => document.getElementById('gift-confirm').open);
    const focused = await page.evaluate(() => document.activeElement.id);
    say(`${size} CONFIRM ${await page.textContent('#gift-confirm-text')} focus=${focused}`);
    await shot('confirm');
    await page.click('#gift-confirm-cancel');
    await page.waitForFunction(() => !document.getElementById('gift-confirm').open);
    await page.click(rocket);
    await page.waitForFunction(() => document.getElementById('gift-confirm').open);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.getElementById('gift-confirm').open);
    await page.waitForTimeout(300);
    say(`${size} CANCELLED spent=${b0 - await balance()} status=${await page.textContent('#gift-status')}`);

    // 4. A typed count outside 1..9999 is refused with a reason.
    await page.fill('#gift-count-custom', '0');
    await page.click(heart);
    say(`${size} COUNT_BAD ${await page.textContent('#gift-status')} invalid=${await page.getAttribute('#gift-count-custom', 'aria-invalid')}`);
    await page.fill('#gift-count-custom', '10000');
    say(`${size} COUNT_BAD_BIG ${await page.textContent('#gift-status')}`);

    // 5. A total above the balance says so and sends nothing.
    await page.fill('#gift-count-custom', '9999');
    await page.click('#gift-list button[data-gift="castle"]');
    say(`${size} TOO_DEAR ${await page.textContent('#gift-status')} dialog=${await dialogOpen()} spent=${b0 - await balance()}`);

    // 6. ×2 rockets = 2,000 coins: confirmed with Send, charged once.
    await page.fill('#gift-count-custom', '2');
    await page.click(rocket);
    await page.waitForFunction(() => document.getElementById('gift-confirm').open);
    await page.click('#gift-confirm-ok');
    await waitBalance(b0 - 2000);
    say(`${size} CONFIRMED spent=${b0 - await balance()}`);

    // 7. "Never" (kept in this browser): a large total goes without asking.
    await page.selectOption('#gift-confirm-threshold', 'never');
    say(`${size} STORED ${await page.evaluate(() => localStorage.getItem('lh_gift_confirm'))}`);

    // 8. The wallet names the gifts and channels, prices in yuan.
    await page.goto(base + '/wallet');
    await page.waitForFunction(() => document.querySelectorAll('#movement-rows tr').length >= 3);
    const rows = await page.$$eval('#movement-rows tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
    say(`${size} WALLET ${rows.slice(0, 3).join(' | ')}`);
    say(`${size} PACKAGE ${await page.textContent('#packages button[data-package="coins-600"]')}`);
    await shot('wallet');
    await ctx.close();
  }
} finally {
  await browser.close();
}
