// Issue 10, item 1: log-in works wherever the pages are served. Chromium
// opens Livehouse at a LAN-style name over plain HTTP
// (http://livehouse.test:PORT, mapped to 127.0.0.1 by a resolver rule), signs
// up and logs in through the pages, reloads and is still logged in, and a
// write that needs the CSRF token works.
// Usage: node e2e/lan_login.mjs BASE_URL USERNAME PASSWORD [SCREENSHOT_DIR]
import { chromium } from 'playwright-core';

const say = (msg) => console.log(msg);
const [base, username, password, shots] = process.argv.slice(2);
const host = new URL(base).hostname;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--host-resolver-rules=MAP ${host} 127.0.0.1`],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  page.on('dialog', (d) => d.accept());
  const who = async () => {
    await page.waitForFunction(() => document.getElementById('who').textContent.includes('level'), null, { timeout: 15000 });
    return page.textContent('#who');
  };
  const session = async () => (await context.cookies(base)).find((c) => c.name === 'lh_session');

  await page.goto(base + '/signup');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#signup-button');
  await page.waitForURL(base + '/account', { timeout: 60000 });
  say('SIGNED_UP ' + (await who()));
  const c = await session();
  say(`COOKIE session=${c ? 'kept' : 'dropped'} secure=${c ? c.secure : '-'}`);

  await page.reload();
  say('RELOADED ' + (await who()));
  const me = await page.evaluate(async () => (await fetch('/api/me')).status);
  say('ME ' + me);

  // A cookie-authenticated write: the page sends the session's CSRF token.
  await page.fill('#token-name', 'lan bot');
  await page.check('#token-scopes input[value="chat:write"]');
  await page.click('#token-button');
  await page.waitForFunction(() => document.getElementById('new-token').textContent.startsWith('lh_pat_'), null, { timeout: 15000 });
  say('CSRF_WRITE token ' + (await page.textContent('#new-token')).slice(0, 7));
  // And without the token the same write is refused.
  const noToken = await page.evaluate(async () => (await fetch('/api/tokens', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'forged', scopes: ['chat:write'] }),
  })).status);
  say('NO_CSRF ' + noToken);

  await page.click('#logout-button');
  await page.waitForURL(base + '/login');
  say('LOGGED_OUT me=' + (await page.evaluate(async () => (await fetch('/api/me')).status)));

  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL(base + '/account', { timeout: 15000 });
  await who();
  await page.reload();
  say('LOGGED_IN_AFTER_RELOAD ' + (await who()));
  if (shots) await page.screenshot({ path: shots + '/lan-login.png' });
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
