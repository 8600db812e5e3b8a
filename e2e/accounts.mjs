// Drives Chromium through the account pages: sign up (the browser solves
// the proof-of-work puzzle), create an API token, log out, log in again.
// Usage: node e2e/accounts.mjs BASE_URL USERNAME PASSWORD
import { launch, say } from './browser.mjs';

const [base, username, password] = process.argv.slice(2);

const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  page.on('dialog', (d) => d.accept());

  await page.goto(base + '/signup');
  await page.fill('#username', username);
  await page.fill('#password', password);
  const t0 = Date.now();
  await page.click('#signup-button');
  await page.waitForURL(base + '/account', { timeout: 60000 });
  say(`SIGNED_UP in ${Date.now() - t0} ms`);
  await page.waitForFunction(() => document.getElementById('who').textContent.includes('level'));
  say('ACCOUNT ' + (await page.textContent('#who')));

  await page.fill('#token-name', 'obs plugin');
  await page.check('#token-scopes input[value="chat:write"]');
  await page.click('#token-button');
  await page.waitForFunction(() => document.getElementById('new-token').textContent.startsWith('lh_pat_'));
  say('TOKEN ' + (await page.textContent('#new-token')));
  await page.waitForFunction(() => document.querySelectorAll('#tokens li').length === 1);

  await page.click('#logout-button');
  await page.waitForURL(base + '/login');
  const me = await page.evaluate(async () => (await fetch('/api/me')).status);
  say('LOGGED_OUT me=' + me);

  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL(base + '/account');
  await page.waitForFunction(() => document.getElementById('who').textContent.includes('level'));
  say('LOGGED_IN ' + (await page.textContent('#nav-user')));
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
