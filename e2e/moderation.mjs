// The content filter's review queue end to end, in one language, at a
// desktop and a phone size: a viewer's held message appears in the owner's
// studio panel (with the filter's reasons) and nowhere else; approve puts
// it in every viewer's chat and overlay; deny tells the sender, who can
// appeal; a blocked message tells its sender the category and is appealed
// into the studio's queue; a viewer's shield slider hides a high-score
// message from that viewer but not from a moderator.
// Usage: node e2e/moderation.mjs BASE_URL SLUG LANG [SHOT_DIR]
// Accounts modowner (owns SLUG, filter on at level 3, channel terms
// "holdme" → hold and "blockme" → block), sam, vic and modadmin (a platform
// admin; the platform list holds "heldtitle", SLUG's title is held);
// passwords NAME-password.
import { launch, say } from './browser.mjs';

const [base, slug, lang, shots] = process.argv.slice(2);
const browser = await launch();

async function login(name, w, h, path) {
  const ctx = await browser.newContext({ viewport: { width: w, height: h } });
  await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + name + ' ' + e.message));
  page.on('dialog', (d) => d.accept(d.type() === 'prompt' ? 'it was a quote' : undefined));
  await page.goto(base + '/login');
  await page.fill('#username', name);
  await page.fill('#password', name + '-password');
  await page.click('#login-button');
  await page.waitForURL(base + '/account');
  await page.goto(base + path);
  return page;
}

async function watch(name, w, h) {
  const page = await login(name, w, h, '/c/' + slug);
  await page.waitForSelector('#chat-form:not([hidden])');
  await page.waitForFunction(() => /\d/.test(document.getElementById('online-count').textContent));
  return page;
}

async function send(page, text) {
  await page.fill('#chat-text', text);
  await page.click('#chat-send');
}

// setShield moves the viewer's shield slider (in the drawer on a phone).
async function setShield(page, level) {
  if (await page.isVisible('#drawer-settings')) await page.click('#drawer-settings');
  const open = await page.evaluate(() => document.querySelector('.dm-settings').open);
  if (!open) await page.click('.dm-settings summary');
  await page.locator('#dm-shield').fill(String(level));
}

const chatLine = (page, text) => page.locator('#chat-list li', { hasText: text });
const overlay = (page, text) => page.locator('#danmaku-layer .dm', { hasText: text });

try {
  // One login each; the second size resizes and reloads the same pages.
  const studio = await login('modowner', 1280, 800, '/studio/' + slug + '/moderation');
  const sam = await watch('sam', 1280, 800);
  const vic = await watch('vic', 1280, 800);
  const mod = await watch('modowner', 1280, 800);
  for (const [w, h] of [[1280, 800], [375, 812]]) {
    const size = `${w}x${h}`;
    const shot = async (page, name) => { if (shots) await page.screenshot({ path: `${shots}/moderation-${name}-${lang}-${size}.png` }); };
    if (w !== 1280) {
      for (const p of [studio, sam, vic, mod]) {
        await p.setViewportSize({ width: w, height: h });
        await p.reload();
      }
      for (const p of [sam, vic, mod]) {
        await p.waitForSelector('#chat-form:not([hidden])');
        await p.waitForFunction(() => /\d/.test(document.getElementById('online-count').textContent));
      }
    }
    await studio.waitForSelector('#held-empty:not([hidden])');

    // Held: the sender hears "pending review"; nobody sees the message.
    const heldText = `holdme please ${size}`;
    await send(sam, heldText);
    const pendingLine = sam.locator('#chat-list li.notice.held').last();
    await pendingLine.waitFor({ timeout: 10000 });
    const pending = await pendingLine.textContent();
    const item = studio.locator('#held-list > li', { hasText: heldText });
    await item.waitFor({ timeout: 10000 });
    const reasons = await item.locator('.modq-reasons').textContent();
    const vicSees = await chatLine(vic, heldText).count();
    say(`${size} HELD notice=${pending.trim()} queued=true reason_term=${reasons.includes('holdme')} viewer_sees=${vicSees}`);
    await item.locator('details').evaluate((d) => { d.open = true; });
    await shot(studio, 'held');

    // Approve: into every viewer's chat list and overlay; the sender is told.
    await item.locator('button.ok-button').click();
    for (const [who, page] of [['vic', vic], ['sam', sam], ['mod', mod]]) {
      await chatLine(page, heldText).first().waitFor({ timeout: 10000 });
      const flew = await overlay(page, heldText).count().then((n) => n > 0 || page.evaluate(() => document.hidden));
      say(`${size} APPROVED ${who} chat=true overlay=${flew}`);
    }
    await sam.locator('#chat-list li.notice', { hasText: lang === 'en' ? 'approved' : '通过' }).waitFor();
    say(`${size} SENDER_TOLD approved`);
    await shot(vic, 'approved');
    const queueEmpty = await studio.locator('#held-list > li', { hasText: heldText }).count();
    say(`${size} QUEUE_AFTER_APPROVE ${queueEmpty}`);

    // Deny: the sender is told and may appeal.
    const deniedText = `holdme again ${size}`;
    await send(sam, deniedText);
    const item2 = studio.locator('#held-list > li', { hasText: deniedText });
    await item2.waitFor({ timeout: 10000 });
    await item2.locator('.modq-actions button').nth(1).click();
    const denied = sam.locator('#chat-list li.verdict').last();
    await denied.locator('button.appeal').waitFor({ timeout: 10000 });
    say(`${size} DENIED told=${(await denied.textContent()).includes(lang === 'en' ? 'did not approve' : '没有通过')} viewer_sees=${await chatLine(vic, deniedText).count()}`);

    // Blocked: the category, never the term; appeal into the studio's queue.
    const blockedText = `blockme now ${size}`;
    await send(sam, blockedText);
    const blocked = sam.locator('#chat-list li.verdict', { hasText: lang === 'en' ? 'blocked' : '拦截' }).last();
    await blocked.waitFor({ timeout: 10000 });
    const btext = await blocked.textContent();
    say(`${size} BLOCKED category=${btext.includes(lang === 'en' ? 'hate' : '仇恨')} term_hidden=${!btext.includes('blockme')}`);
    await shot(sam, 'blocked');
    await blocked.locator('button.appeal').click();
    await blocked.filter({ hasText: lang === 'en' ? 'Appeal sent' : '申诉已提交' }).waitFor();
    await studio.reload();
    const appeal = studio.locator('#appeal-list > li', { hasText: blockedText });
    await appeal.waitFor({ timeout: 10000 });
    say(`${size} APPEAL queued=true says=${(await appeal.textContent()).includes('it was a quote')}`);
    await studio.locator('#blocked-list > li', { hasText: blockedText }).waitFor();
    await appeal.scrollIntoViewIfNeeded();
    await shot(studio, 'appeals');
    await appeal.locator('button.ok-button').click();
    await studio.locator('#appeal-list > li', { hasText: blockedText }).waitFor({ state: 'detached' });
    say(`${size} APPEAL upheld`);

    // Shield: level 5 hides score 50+ from vic, never from the moderator.
    await setShield(vic, 5);
    await setShield(mod, 5);
    const shieldLabel = await vic.textContent('#dm-shield-value');
    const spamText = `call 1357924${w === 1280 ? 6 : 8}8 now`;
    await send(sam, spamText);
    await chatLine(sam, spamText).waitFor({ timeout: 10000 });
    await chatLine(vic, spamText).waitFor({ state: 'attached', timeout: 10000 });
    await chatLine(mod, spamText).waitFor({ timeout: 10000 });
    const hiddenForVic = await chatLine(vic, spamText).isHidden();
    const overlayVic = await overlay(vic, spamText).count();
    const shownForMod = await chatLine(mod, spamText).isVisible();
    const score = await chatLine(vic, spamText).getAttribute('data-score');
    say(`${size} SHIELD label=${shieldLabel} score=${score} viewer_hidden=${hiddenForVic} viewer_overlay=${overlayVic} moderator_sees=${shownForMod}`);
    await shot(vic, 'shield');
    const remembered = await vic.reload().then(() => vic.evaluate(() => JSON.parse(localStorage.getItem('lh-danmaku')).shield));
    say(`${size} SHIELD_REMEMBERED ${remembered}`);
  }
  // The admin's platform queue: a channel title the filter held.
  const admin = await login('modadmin', 1280, 800, '/admin/moderation');
  for (const [w, h] of [[1280, 800], [375, 812]]) {
    await admin.setViewportSize({ width: w, height: h });
    await admin.reload();
    const title = admin.locator('#held-list > li', { hasText: 'heldtitle' });
    await title.waitFor({ timeout: 10000 });
    const kind = await title.locator('.modq-kind').textContent();
    await admin.waitForSelector('#filter-level[data-loaded]', { state: 'attached', timeout: 10000 });
    const floor = await admin.inputValue('#filter-level');
    say(`${w}x${h} ADMIN title_held=${kind} floor=${floor}`);
    if (shots) await admin.screenshot({ path: `${shots}/moderation-admin-${lang}-${w}x${h}.png` });
  }
  say('DONE');
} catch (e) {
  say('FAIL ' + e.stack);
  process.exitCode = 1;
} finally {
  await browser.close();
}
