// Prices the viewer was shown, in one language: the wallet tells a member
// their renewal stopped because the price rose; the watch page says so
// too; a gift or a membership whose price changed after the page loaded
// charges nothing and tells the new price; buying at the new price
// re-arms the renewal and answers the notice.
// Usage: node e2e/money_prices.mjs BASE_URL SLUG VIEWER ADMIN_TOKEN LANG [SHOT_DIR]
// (the viewer's password is NAME-password; the server has prepared the
// stopped renewal).
import { launch, say } from './browser.mjs';

const [base, slug, viewerName, adminToken, lang, shots] = process.argv.slice(2);
const shot = async (page, name) => { if (shots) await page.screenshot({ path: `${shots}/${name}-${lang}.png`, fullPage: true }); };

// The platform changes prices behind the viewer's back.
async function admin(method, path, body) {
  const res = await fetch(base + path, {
    method, headers: { Authorization: 'Bearer ' + adminToken, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}
const tiers = (captain) => ({ tiers: [
  { tier: 1, name: 'Captain', monthly_price: captain }, { tier: 2, name: 'Admiral', monthly_price: 1998 }, { tier: 3, name: 'Governor', monthly_price: 19998 },
] });

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  await page.goto(base + '/login');
  await page.fill('#username', viewerName);
  await page.fill('#password', viewerName + '-password');
  await page.click('#login-button');
  await page.waitForURL(base + '/account');

  // 1. The wallet's notice.
  await page.goto(base + '/wallet');
  await page.waitForSelector('#notices:not([hidden]) #notice-list li');
  say('NOTICE ' + (await page.textContent('#notice-list li span')));
  await shot(page, 'wallet-notice');

  // 2. The watch page says the renewal stopped, with the box ticked.
  await page.goto(base + '/c/' + slug);
  await page.waitForSelector('#gift-bar:not([hidden])');
  await page.waitForSelector('#renewal-note:not([hidden])');
  say('RENEWAL_NOTE ' + (await page.textContent('#renewal-note')) + ' ticked=' + (await page.isChecked('#auto-renew')));

  // 3. A gift repriced after the page loaded: nothing charged, new price told.
  const balance = await page.textContent('#balance');
  await admin('PUT', '/api/admin/gifts/heart', { name: 'Heart', price: 12, tier: 1, icon: '💖' });
  await page.click('#gift-list button[data-gift="heart"]');
  await page.waitForFunction(() => document.getElementById('gift-status').className === 'error');
  say(`GIFT_PRICE_CHANGED ${await page.textContent('#gift-status')} | balance ${balance} -> ${await page.textContent('#balance')} | button ${await page.textContent('#gift-list button[data-gift="heart"]')}`);
  await shot(page, 'gift-price-changed');
  await page.click('#gift-list button[data-gift="heart"]');
  await page.waitForFunction((b) => document.getElementById('balance').textContent === String(Number(b) - 12), balance);
  say('GIFT_SENT balance=' + (await page.textContent('#balance')));

  // 4. A membership repriced after the page loaded. The gift above reloads
  // the fan panel (and with it the tier buttons); on a loaded machine that
  // reload could land after the repricing and show the new price, so the
  // click would buy at it. Let it finish first.
  await page.waitForLoadState('networkidle', { timeout: 10000 }).catch(() => {});
  await admin('PUT', '/api/channels/' + slug + '/membership-tiers', tiers(300));
  await page.click('#tier-buttons button[data-tier="1"]');
  await page.waitForFunction(() => document.getElementById('gift-status').className === 'error' && /300/.test(document.getElementById('gift-status').textContent));
  say('MEMBER_PRICE_CHANGED ' + (await page.textContent('#gift-status')) + ' | button ' + (await page.textContent('#tier-buttons button[data-tier="1"]')));
  await shot(page, 'membership-price-changed');

  // 5. Bought at the new price with the box ticked: renewing again.
  await page.click('#tier-buttons button[data-tier="1"]');
  await page.waitForSelector('#renewal-note[hidden]', { state: 'attached' });
  say('REARMED ' + (await page.textContent('#my-membership')) + ' ticked=' + (await page.isChecked('#auto-renew')) + ' balance=' + (await page.textContent('#balance')));
  await page.goto(base + '/wallet');
  await page.waitForFunction(() => document.getElementById('wallet-balance').textContent !== '…');
  say('NOTICES_AFTER ' + (await page.locator('#notice-list li').count()) + ' hidden=' + (await page.isHidden('#notices')));
} finally {
  await browser.close();
}
