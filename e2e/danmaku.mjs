// Two viewers in one room: A (logged in) sends danmaku, B (anonymous) sees
// each on the overlay and in the chat panel. A hostile payload must stay
// text. Usage: node e2e/danmaku.mjs BASE_URL SLUG USERNAME PASSWORD [SHOT_DIR]
import { launch, say } from './browser.mjs';

const [base, slug, username, password, shots] = process.argv.slice(2);

const browser = await launch();
try {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  for (const p of [a, b]) p.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));

  await a.goto(base + '/login');
  await a.fill('#username', username);
  await a.fill('#password', password);
  await a.click('#login-button');
  await a.waitForURL(base + '/account');

  await a.goto(base + '/c/' + slug);
  await b.goto(base + '/c/' + slug);
  for (const p of [a, b]) await p.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  await a.waitForSelector('#chat-form:not([hidden])');
  await b.waitForFunction(() => Number(document.getElementById('online-count').textContent) >= 2, null, { timeout: 10000 });
  say('BOTH_LIVE online=' + (await b.textContent('#online-count')));

  const payloads = ['hello from A 你好', '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'];
  for (const text of payloads) {
    await a.fill('#chat-text', text);
    const t0 = Date.now();
    await a.click('#chat-send');
    await b.waitForFunction((t) => [...document.querySelectorAll('#danmaku-layer .dm')].some((e) => e.textContent === t), text, { timeout: 5000 });
    const overlayMs = Date.now() - t0;
    await b.waitForFunction((t) => [...document.querySelectorAll('#chat-list .text')].some((e) => e.textContent === t), text, { timeout: 5000 });
    say(`SEEN overlay_ms=${overlayMs} text=${JSON.stringify(text)}`);
  }
  await b.waitForTimeout(300);
  const pwned = await b.evaluate(() => window.__pwned);
  const imgs = await b.evaluate(() => document.querySelectorAll('#chat-list img, #danmaku-layer img').length);
  say(`SAFE pwned=${pwned === undefined ? 'no' : pwned} imgs=${imgs}`);
  const mine = await a.evaluate(() => document.querySelectorAll('#chat-list li.mine').length);
  say('OWN_HIGHLIGHTED ' + mine);

  // A gift: A's balance drops, B sees the gift line and its animation.
  await a.waitForSelector('#gift-bar:not([hidden])');
  const before = Number(await a.textContent('#balance'));
  for (let i = 0; i < 3; i++) {
    await a.click('#gift-list button[data-gift="rocket"]');
    await a.waitForFunction((b) => Number(document.getElementById('balance').textContent) === b, before - 1000 * (i + 1));
  }
  await b.waitForFunction(() => [...document.querySelectorAll('#chat-list li.gift')].some((e) => e.textContent.includes('Rocket') && e.textContent.includes('×3')), null, { timeout: 5000 });
  const pops = await b.evaluate(() => document.querySelectorAll('#gift-layer .gift-pop, #gift-layer .gift-banner').length);
  say('GIFTED balance ' + before + ' -> ' + (await a.textContent('#balance')) + ' combo ×3 animations=' + pops);
  if (shots) await b.screenshot({ path: shots + '/danmaku.png' });
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
