// The studio with backup ingest: the stream-health panel says which input
// is on air and how the standby is; the setup panel makes a backup key.
// Usage: node e2e/backup_studio.mjs BASE LANG SLUG USER PASSWORD MAKE_KEY(yes|no) [SHOT_DIR]
// Prints: BACKUP_KEY key (when made), INPUT lang=… width=… on_air=… standby=… text=… scroll_width=N
import { launch, say } from './browser.mjs';

const [base, lang, slug, user, password, makeKey, shots] = process.argv.slice(2);
const browser = await launch();
try {
  const ctx = await browser.newContext({ locale: lang, viewport: { width: 1280, height: 800 } });
  await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(base + '/login');
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL(base + '/account');
  await page.goto(base + '/studio/' + slug);
  if (makeKey === 'yes') {
    await page.click('#new-backup-key');
    await page.waitForFunction(() => document.getElementById('backup-key').value.startsWith('sk_'), null, { timeout: 10000 });
    say('BACKUP_KEY ' + await page.inputValue('#backup-key'));
    if (shots) await page.locator('#h-setup').locator('..').screenshot({ path: `${shots}/${lang}-backup-setup.png` });
  } else {
    await page.waitForSelector('#health[data-standby="ready"]', { timeout: 30000 });
    for (const [w, h] of [[1280, 800], [375, 812]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(1200);
      const r = await page.evaluate(() => ({
        onAir: document.getElementById('health').dataset.onAir, standby: document.getElementById('health').dataset.standby,
        text: document.getElementById('fact-input').textContent, sw: document.documentElement.scrollWidth,
      }));
      say(`INPUT lang=${lang} width=${w} on_air=${r.onAir} standby=${r.standby} text=${JSON.stringify(r.text)} scroll_width=${r.sw}`);
      if (shots) {
        await page.locator('#health').scrollIntoViewIfNeeded();
        await page.locator('#health').screenshot({ path: `${shots}/${lang}-${w}-backup-health.png` });
      }
    }
  }
} finally {
  await browser.close();
}
