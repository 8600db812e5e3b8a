// The studio's Simulcast panel over a live stream, in one language, at
// 1280 px and at 375 px: destinations added through the form (when the
// channel has none yet), a working one shown live, an unreachable one
// shown retrying with a countdown, keys masked, switching one off.
// Usage: node e2e/simulcast.mjs BASE LANG SLUG USER PASSWORD GOOD_URL GOOD_KEY BAD_URL [SHOT_DIR] [slate]
// Prints: SIM lang=… width=… states=[…] texts=[…] keys=[…] scroll_width=N
// With "slate" (the source is away): only SLATE "state text" of the live destination, and a screenshot.
import { launch, say } from './browser.mjs';

const [base, lang, slug, user, password, goodURL, goodKey, badURL, shots, mode] = process.argv.slice(2);

const browser = await launch();
try {
  const ctx = await browser.newContext({ locale: lang, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(base + '/login');
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL(base + '/account');

  await page.goto(base + '/studio/' + slug);
  await page.waitForSelector('#simulcast:not([hidden])', { timeout: 20000 });
  if (mode === 'slate') {
    await page.waitForFunction((want) => [...document.querySelectorAll('.sim-item[data-state="live"] .sim-state')]
      .some((s) => s.textContent === want), await page.evaluate(() => window.Livehouse.t('simulcast.state.slate')), { timeout: 20000 });
    say('SLATE ' + JSON.stringify(await page.textContent('.sim-item[data-state="live"] .sim-state')));
    if (shots) await page.locator('#simulcast').screenshot({ path: `${shots}/${lang}-simulcast-slate-panel.png` });
    process.exit(0);
  }
  if (await page.locator('.sim-item').count() === 0) {
    await page.click('#sim-add summary');
    for (const [name, url, key] of [['Node B', goodURL, goodKey], ['Broken', badURL, '']]) {
      await page.fill('#sim-name', name);
      await page.fill('#sim-url', url);
      await page.fill('#sim-key', key);
      const before = await page.locator('.sim-item').count();
      await page.click('#sim-submit');
      await page.waitForFunction((n) => document.querySelectorAll('.sim-item').length > n, before);
    }
    // A bad URL is refused in the page's language.
    await page.fill('#sim-name', 'Nope');
    await page.fill('#sim-url', 'http://example.com/live');
    await page.click('#sim-submit');
    await page.waitForFunction(() => document.getElementById('sim-status').className === 'error');
    say('REFUSED ' + JSON.stringify(await page.textContent('#sim-status')));
    await page.fill('#sim-url', '');
    await page.fill('#sim-name', '');
  }
  await page.waitForSelector('.sim-item[data-state="live"]', { timeout: 30000 });
  await page.waitForSelector('.sim-item[data-state="retrying"]', { timeout: 30000 });
  for (const [w, h] of [[1280, 800], [375, 812]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(500);
    // The unreachable destination cycles retrying → connecting → retrying;
    // sample it while it is between attempts.
    await page.waitForSelector('.sim-item[data-state="retrying"]', { timeout: 30000 });
    const r = await page.evaluate(() => ({
      states: [...document.querySelectorAll('.sim-item')].map((li) => li.dataset.state),
      texts: [...document.querySelectorAll('.sim-state')].map((s) => s.textContent),
      keys: [...document.querySelectorAll('.sim-key')].map((s) => s.textContent),
      count: document.getElementById('sim-count').textContent,
      scrollWidth: document.documentElement.scrollWidth,
    }));
    if (shots) {
      await page.locator('#simulcast').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${shots}/${lang}-simulcast-${w}x${h}.png` });
      await page.locator('#simulcast').screenshot({ path: `${shots}/${lang}-simulcast-panel-${w}.png` });
    }
    say(`SIM lang=${lang} width=${w} states=${JSON.stringify(r.states)} texts=${JSON.stringify(r.texts)} ` +
      `keys=${JSON.stringify(r.keys)} count=${JSON.stringify(r.count)} scroll_width=${r.scrollWidth}`);
  }
  // Switch the broken one off, then on again (the next language's run finds it retrying).
  const id = await page.locator('.sim-item[data-state="retrying"]').first().getAttribute('data-id');
  const item = `.sim-item[data-id="${id}"]`;
  await page.locator(item + ' input[type=checkbox]').uncheck();
  await page.waitForSelector(item + '[data-state="off"]', { timeout: 10000 });
  say('OFF ' + JSON.stringify(await page.textContent(item + ' .sim-state')));
  await page.locator(item + ' input[type=checkbox]').check();
  await page.waitForSelector(`${item}[data-state="retrying"], ${item}[data-state="connecting"]`, { timeout: 10000 });
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
