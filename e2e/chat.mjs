// The chat panel with two viewers (amy, ben) and a moderator (mo), in one
// language, at a desktop and a phone size: timestamps toggle, emoji picker,
// amy @mentions ben (highlighted for ben only), ben replies (quoted for
// everyone), the user card (level, tier; mute for the moderator), the
// viewer list, the character counter with the channel's limit, and
// refusals in the page's language.
// Usage: node e2e/chat.mjs BASE_URL SLUG LANG [SHOT_DIR]
// Accounts amy, ben and mo have the password NAME-password; mo moderates SLUG.
import { launch, say } from './browser.mjs';

const [base, slug, lang, shots] = process.argv.slice(2);
const browser = await launch();

async function login(size, name, w, h) {
  const ctx = await browser.newContext({ viewport: { width: w, height: h } });
  await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(base + '/login');
  await page.fill('#username', name);
  await page.fill('#password', name + '-password');
  await page.click('#login-button');
  await page.waitForURL(base + '/account');
  await page.goto(base + '/c/' + slug);
  await page.waitForSelector('#chat-form:not([hidden])');
  return page;
}

// setRules changes the channel's rules as the moderator (through the API, with the page's CSRF token).
async function setMaxLength(page, n) {
  const status = await page.evaluate(async (args) => {
    const csrf = decodeURIComponent((document.cookie.match('(?:^|; )lh_csrf=([^;]*)') || [])[1] || '');
    const res = await fetch('/api/channels/' + args.slug + '/rules', {
      method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ max_length: args.n }),
    });
    return res.status;
  }, { slug, n });
  if (status !== 200) throw new Error('set rules: ' + status);
}

const lastLi = (page, text) => page.locator('#chat-list li', { hasText: text }).last();

try {
  for (const [w, h] of [[1280, 800], [375, 812]]) {
    const size = `${w}x${h}`;
    const shot = async (page, name) => { if (shots) await page.screenshot({ path: `${shots}/chat-${name}-${lang}-${size}.png` }); };
    const amy = await login(size, 'amy', w, h);
    const ben = await login(size, 'ben', w, h);
    const mo = await login(size, 'mo', w, h);
    // All three joined: the counter shows the channel's limit.
    for (const p of [amy, ben, mo]) await p.waitForFunction(() => document.getElementById('chat-counter').textContent === '0/60', null, { timeout: 10000 });
    say(`${size} COUNTER ${await amy.textContent('#chat-counter')} maxlength=${await amy.getAttribute('#chat-text', 'maxlength')}`);

    // Timestamps: off by default, on with the toggle, remembered after a reload.
    await amy.fill('#chat-text', `first from amy ${size}`);
    await amy.click('#chat-send');
    await lastLi(amy, `first from amy ${size}`).waitFor();
    const tsBefore = await lastLi(amy, `first from amy ${size}`).locator('time.ts').isVisible();
    await amy.check('#chat-ts');
    const tsText = await lastLi(amy, `first from amy ${size}`).locator('time.ts').textContent();
    const tsAfter = await lastLi(amy, `first from amy ${size}`).locator('time.ts').isVisible();
    await amy.reload();
    await amy.waitForSelector('#chat-form:not([hidden])');
    await lastLi(amy, `first from amy ${size}`).waitFor();
    const remembered = await amy.isChecked('#chat-ts');
    const tsReload = await lastLi(amy, `first from amy ${size}`).locator('time.ts').isVisible();
    say(`${size} TIMESTAMPS before=${tsBefore} after=${tsAfter} format=${/^\d\d:\d\d$/.test(tsText)} remembered=${remembered} shown=${tsReload}`);
    await amy.waitForFunction(() => document.getElementById('chat-counter').textContent === '0/60');

    // Emoji: the picker opens, Escape closes it (focus back on its button),
    // a pick lands at the caret.
    await amy.fill('#chat-text', 'hot take');
    await amy.focus('#chat-text');
    await amy.evaluate(() => { const i = document.getElementById('chat-text'); i.setSelectionRange(3, 3); });
    await amy.click('#chat-emoji');
    const open = await amy.isVisible('#chat-emoji-grid');
    const count = await amy.locator('#chat-emoji-grid button').count();
    await amy.keyboard.press('Escape');
    const closed = await amy.isHidden('#chat-emoji-grid');
    const focusBack = await amy.evaluate(() => document.activeElement.id);
    await amy.click('#chat-emoji');
    await shot(amy, 'emoji');
    await amy.click('#chat-emoji-grid button[aria-label="🔥"]');
    say(`${size} EMOJI open=${open} n=${count} escape=${closed} focus=${focusBack} value=${await amy.inputValue('#chat-text')} counter=${await amy.textContent('#chat-counter')}`);

    // amy mentions ben: highlighted for ben only.
    const mention = `@ben look ${size}`;
    await amy.fill('#chat-text', mention);
    await amy.click('#chat-send');
    for (const p of [amy, ben, mo]) await lastLi(p, mention).waitFor({ timeout: 5000 });
    const hl = async (p) => (await lastLi(p, mention).getAttribute('class') || '').includes('mention');
    say(`${size} MENTION ben=${await hl(ben)} amy=${await hl(amy)} mo=${await hl(mo)} at=${await lastLi(ben, mention).locator('.at').textContent()}`);

    // ben starts a name: the chip offers amy (who spoke lately), Tab takes it.
    await ben.fill('#chat-text', 'hey @a');
    await ben.waitForSelector('#chat-complete:not([hidden])');
    const chipText = await ben.textContent('#chat-complete');
    await ben.press('#chat-text', 'Tab');
    say(`${size} COMPLETE chip=${chipText} value=${JSON.stringify(await ben.inputValue('#chat-text'))} hidden=${await ben.isHidden('#chat-complete')}`);

    // ben replies: the bar shows whom, everyone sees the quote.
    await lastLi(ben, mention).locator('button.reply').click();
    const bar = await ben.textContent('#chat-reply-text');
    await shot(ben, 'reply-bar');
    const answer = `thanks amy ${size}`;
    await ben.fill('#chat-text', answer);
    await ben.click('#chat-send');
    await ben.waitForSelector('#chat-reply', { state: 'hidden' });
    const quotes = [];
    for (const p of [amy, ben, mo]) {
      await lastLi(p, answer).waitFor({ timeout: 5000 });
      quotes.push(await lastLi(p, answer).locator('.quote').textContent());
    }
    say(`${size} REPLY bar=${bar} | quotes=${quotes.join(' | ')}`);
    await shot(ben, 'mention-reply');

    // The user card: amy sees ben's level and tier, no moderation; mo
    // mutes him and ben's next message is refused in the page's language.
    await lastLi(amy, answer).locator('button.name').click();
    await amy.waitForSelector('#chat-card[open]');
    say(`${size} CARD_VIEWER ${(await amy.locator('#chat-card-facts').innerText()).replace(/\n/g, ' | ')} mod=${await amy.isVisible('#chat-card-mod')}`);
    await amy.click('#chat-card-close');
    await lastLi(mo, answer).locator('button.name').click();
    await mo.waitForSelector('#chat-card[open]');
    const modVisible = await mo.isVisible('#chat-card-mod');
    const banVisible = await mo.isVisible('#chat-card-ban');
    await shot(mo, 'card');
    await mo.selectOption('#chat-card-minutes', '10');
    await mo.click('#chat-card-mute');
    await mo.waitForSelector('#chat-card-unmute:not([hidden])', { timeout: 5000 });
    say(`${size} CARD_MOD mute=${modVisible} ban=${banVisible} status=${await mo.textContent('#chat-card-status')}`);
    await mo.click('#chat-card-close');
    await ben.fill('#chat-text', `am I muted ${size}`);
    await ben.click('#chat-send');
    await ben.waitForFunction(() => document.getElementById('chat-status').className === 'error', null, { timeout: 5000 });
    say(`${size} MUTED ${await ben.textContent('#chat-status')}`);
    await lastLi(mo, answer).locator('button.name').click();
    await mo.waitForSelector('#chat-card-unmute:not([hidden])');
    await mo.click('#chat-card-unmute');
    await mo.waitForSelector('#chat-card-mute:not([hidden])', { timeout: 5000 });
    await mo.click('#chat-card-close');

    // The viewer list: for the moderator only, with both viewers.
    const amyHasButton = await amy.isVisible('#chat-viewers-button');
    await mo.waitForSelector('#chat-viewers-button:not([hidden])');
    await mo.click('#chat-viewers-button');
    await mo.waitForSelector('#chat-viewers[open]');
    const names = await mo.locator('#chat-viewers-list button.name').allTextContents();
    await shot(mo, 'viewers');
    say(`${size} VIEWERS ${names.sort().join(',')} amy_button=${amyHasButton}`);
    await mo.click('#chat-viewers-close');

    // The counter near and over the limit; the page refuses over-long text itself.
    await amy.fill('#chat-text', 'x'.repeat(55));
    const near = await amy.getAttribute('#chat-counter', 'class');
    await amy.evaluate(() => {
      const i = document.getElementById('chat-text');
      i.value = 'y'.repeat(70);
      i.dispatchEvent(new Event('input'));
    });
    const over = await amy.getAttribute('#chat-counter', 'class');
    await amy.click('#chat-send');
    say(`${size} COUNTER_STATES near=${near} over=${over} ${await amy.textContent('#chat-counter')} LOCAL_REFUSAL ${await amy.textContent('#chat-status')}`);

    // The channel lowers its limit meanwhile: the server refuses, in the page's language.
    await setMaxLength(mo, 10);
    const prev = await amy.textContent('#chat-status');
    await amy.fill('#chat-text', `this is longer than ten ${size}`);
    await amy.click('#chat-send');
    await amy.waitForFunction((t) => document.getElementById('chat-status').textContent !== t, prev, { timeout: 5000 });
    say(`${size} SERVER_REFUSAL ${await amy.textContent('#chat-status')}`);
    await shot(amy, 'refused');
    await setMaxLength(mo, 60);
    for (const p of [amy, ben, mo]) await p.context().close();
  }
  say('DONE');
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
