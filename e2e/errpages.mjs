// Pages that fail gracefully, in one language (en or zh-CN, by the lh_lang
// cookie): the styled 404 with the nav, the log-in detour and return for
// /admin, the 403 page for a viewer, hostile next= values ignored, and the
// empty search state. Screenshots at 1280×800 and 375×812.
// Usage: node e2e/errpages.mjs BASE LANG ADMIN VIEWER [SHOT_DIR]
// (passwords are NAME-password).
import { launch, say } from './browser.mjs';

const [base, lang, adminName, viewerName, shots] = process.argv.slice(2);
const origin = new URL(base).origin;

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const langCookie = { name: 'lh_lang', value: lang, url: origin };
  await ctx.addCookies([langCookie]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message + ' at ' + page.url()));
  const logOut = async () => {
    await page.goto('about:blank'); // no page left asking the API as the cookies go
    await ctx.clearCookies();
    await ctx.addCookies([langCookie]);
  };
  // Both sizes, and whether the narrow page scrolls sideways.
  const shot = async (name) => {
    let wide = 0;
    for (const [w, h] of [[1280, 800], [375, 812]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(150);
      wide = await page.evaluate(() => document.documentElement.scrollWidth);
      if (shots) await page.screenshot({ path: `${shots}/${lang}-errpage-${name}-${w}x${h}.png` });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    say(`NARROW ${name} scroll_width=${wide}`);
  };
  const fillLogin = async (name) => {
    await page.fill('#username', name);
    await page.fill('#password', name + '-password');
    await page.click('#login-button');
    await page.waitForURL((u) => u.pathname !== '/login', { timeout: 10000 });
  };
  const where = () => { const u = new URL(page.url()); return u.origin === origin ? u.pathname + u.search : u.href; };
  const text = (sel) => page.locator(sel).first().innerText();

  // An unknown channel: the styled 404 with the usual navigation.
  let res = await page.goto(base + '/c/nope');
  await page.waitForSelector('#nav-user a');
  say(`NOTFOUND status=${res.status()} page=${await page.getAttribute('main', 'data-page')} html=${await page.getAttribute('html', 'lang')} ` +
    `h1="${await text('h1')}" nav_links=${await page.locator('#nav-user a').count()} home_link=${await page.locator('main a[href="/"]').count()}`);
  await shot('404');

  // The home page's search that finds nothing says so and offers the way back.
  await page.goto(base + '/?q=' + encodeURIComponent('zzz-nothing'));
  await page.waitForSelector('#empty-search:not([hidden])');
  say(`EMPTY text="${await text('#empty-search-text')}" clear=${await page.getAttribute('#clear-search', 'href')} ` +
    `nobody_live_shown=${await page.isVisible('#empty')}`);
  await shot('empty-search');
  await page.click('#clear-search');
  await page.waitForURL(base + '/');
  say(`CLEARED at=${where()} empty_search_shown=${await page.isVisible('#empty-search')}`);

  // /admin logged out: the log-in page, then back to the admin home.
  await page.goto(base + '/admin');
  await page.waitForSelector('#login-next:not([hidden])');
  say(`DETOUR at=${where()} hint="${await text('#login-next')}"`);
  await shot('login-detour');
  await fillLogin(adminName);
  await page.waitForSelector('main[data-page="admin-home"]');
  say(`RETURN at=${where()} sections=${await page.locator('.admin-sections li').count()} h1="${await text('h1')}"`);
  await shot('admin-home');
  await logOut();

  // A viewer who logs in on the way to /admin gets the 403 page.
  await page.goto(base + '/admin/users');
  await fillLogin(viewerName);
  await page.waitForSelector('main[data-page="error"]');
  res = await page.goto(base + '/admin');
  await page.waitForSelector('#nav-user a');
  say(`FORBIDDEN at=${where()} status=${res.status()} h1="${await text('h1')}"`);
  await shot('403');
  await logOut();

  // Hostile next= values are ignored: the log-in lands on the account page.
  for (const next of ['//evil.example', 'https://evil.example', '/%5Cevil.example']) {
    await page.goto(base + '/login?next=' + next);
    await page.waitForSelector('#login-form');
    const hint = await page.isVisible('#login-next');
    await fillLogin(viewerName);
    say(`NEXT ${next} -> ${where()} hint=${hint}`);
    await logOut();
  }
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
