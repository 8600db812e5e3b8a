// Log-in's next= only ever leads to a path on this site (no open redirect).
// Usage: node e2e/next.mjs BASE_URL USERNAME PASSWORD
import { launch, say } from './browser.mjs';

const [base, username, password] = process.argv.slice(2);
const origin = new URL(base).origin;

const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message + ' at ' + page.url()));

  // Each hostile next, as an attacker would put it in a link, then the
  // page the browser ends on after a real log-in.
  const hostile = ['//evil.test/', '/%5Cevil.test/', '/%5C%5Cevil.test', 'https://evil.test/', 'javascript:alert(1)',
    '/%09/evil.test', '/%0A/evil.test', 'http:evil.test', '%2F%2Fevil.test', '/%2F/evil.test'];
  for (const next of [...hostile, '/wallet?tab=coins']) {
    await page.goto(base + '/login?next=' + next);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('#login-button');
    await page.waitForURL((u) => u.pathname !== '/login', { timeout: 10000 });
    const landed = new URL(page.url());
    say(`NEXT ${next} -> ${landed.origin === origin ? landed.pathname + landed.search : landed.href}`);
    await page.goto('about:blank');
    await page.context().clearCookies(); // log out
  }
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
