// The money journey through the pages, four people in four browsers:
// a viewer orders coins, an admin confirms the payment, the viewer sends a
// free trial gift, a rocket and joins as a member; a second viewer sees the
// gift animation, the membership notice and the viewer's badges; the
// streamer sees the earnings, asks for a payout, and the admin approves it.
// Usage: node e2e/money.mjs BASE_URL SLUG VIEWER STREAMER ADMIN [SHOT_DIR]
// (each account's password is NAME-password).
import { launch, say } from './browser.mjs';

const [base, slug, viewerName, streamerName, adminName, shots] = process.argv.slice(2);
const shot = async (page, name) => { if (shots) await page.screenshot({ path: `${shots}/${name}.png` }); };

const browser = await launch();
try {
  async function as(name) {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    if (name) {
      await page.goto(base + '/login');
      await page.fill('#username', name);
      await page.fill('#password', name + '-password');
      await page.click('#login-button');
      await page.waitForURL(base + '/account');
    }
    return page;
  }
  const viewer = await as(viewerName);
  const other = await as(null);
  const admin = await as(adminName);
  const streamer = await as(streamerName);

  // 1. The viewer orders 3,000 coins; the admin confirms the payment.
  await viewer.goto(base + '/wallet');
  await viewer.click('#packages button[data-package="coins-3000"]');
  await viewer.waitForFunction(() => [...document.querySelectorAll('#topup-rows td')].some((td) => td.textContent === 'pending'));
  await admin.goto(base + '/admin/money');
  const order = admin.locator('#topup-rows tr', { hasText: viewerName });
  await order.locator('button.approve').click();
  await admin.waitForFunction(() => document.querySelectorAll('#topup-rows tr').length === 0);
  await viewer.waitForFunction(() => document.getElementById('wallet-balance').textContent === '3000', null, { timeout: 10000 });
  say('TOPPED_UP balance=' + (await viewer.textContent('#wallet-balance')));
  await shot(viewer, 'wallet');

  // 2. In the room: a free trial gift, then a rocket; the other viewer sees both.
  await viewer.goto(base + '/c/' + slug);
  await other.goto(base + '/c/' + slug);
  for (const p of [viewer, other]) await p.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  await viewer.waitForSelector('#gift-bar:not([hidden])');
  await viewer.click('#gift-list button[data-gift="lucky-star"]');
  await viewer.waitForSelector('#gift-list button[data-gift="lucky-star"]', { state: 'detached' });
  const afterTrial = await viewer.textContent('#balance');
  await viewer.click('#gift-list button[data-gift="rocket"]');
  await viewer.waitForFunction(() => document.getElementById('balance').textContent === '2000');
  await other.waitForFunction(() => [...document.querySelectorAll('#chat-list li.gift')].some((e) => e.textContent.includes('Rocket')), null, { timeout: 5000 });
  await other.waitForFunction(() => [...document.querySelectorAll('#chat-list li.gift')].some((e) => e.textContent.includes('Lucky star')), null, { timeout: 5000 });
  const pops = await other.evaluate(() => document.querySelectorAll('#gift-layer .gift-pop, #gift-layer .gift-banner').length);
  say(`GIFTED trial_balance=${afterTrial} balance=${await viewer.textContent('#balance')} other_animations=${pops}`);

  // 3. Membership: the viewer joins as tier 1; the room hears it.
  await viewer.check('#auto-renew');
  await viewer.click('#tier-buttons button[data-tier="1"]');
  await viewer.waitForFunction(() => document.getElementById('my-membership').textContent !== '');
  await other.waitForFunction(() => [...document.querySelectorAll('#chat-list li.membership')].some((e) => e.textContent.includes('became')), null, { timeout: 5000 });
  say('MEMBER ' + (await viewer.textContent('#my-membership')) + ' | ' + (await viewer.textContent('#my-medal')) + ' | balance=' + (await viewer.textContent('#balance')));

  // 4. The viewer's danmaku carries the member badge and the medal.
  await viewer.fill('#chat-text', 'supporting the stream');
  await viewer.click('#chat-send');
  const line = other.locator('#chat-list li', { hasText: 'supporting the stream' });
  await line.waitFor({ timeout: 5000 });
  say('BADGES member=' + (await line.locator('.member').textContent()) + ' medal=' + (await line.locator('.medal').textContent()));
  await shot(other, 'room-with-gifts');

  // 5. The streamer sees the earnings and asks for a payout; the admin pays.
  await streamer.goto(base + '/studio/' + slug + '/money');
  await streamer.waitForFunction(() => Number(document.getElementById('earn-available').textContent) > 0);
  const available = await streamer.textContent('#earn-available');
  await streamer.fill('#withdraw-amount', '500');
  await streamer.click('#withdraw-form button[type=submit]');
  await streamer.waitForFunction(() => [...document.querySelectorAll('#withdrawal-rows td')].some((td) => td.textContent === 'pending'));
  await admin.reload();
  await admin.locator('#withdrawal-rows tr', { hasText: slug }).locator('button.approve').click();
  await streamer.waitForFunction(() => document.getElementById('earn-paid').textContent === '500', null, { timeout: 10000 });
  say(`EARNINGS available=${available} after=${await streamer.textContent('#earn-available')} paid=${await streamer.textContent('#earn-paid')}`);
  await shot(streamer, 'studio-earnings');

  await admin.click('#verify-button');
  await admin.waitForFunction(() => document.getElementById('verify-result').textContent !== '');
  say('LEDGER ' + (await admin.textContent('#verify-result')));
} finally {
  await browser.close();
}
