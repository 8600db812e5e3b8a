// Offline and ended cards, the stream schedule and channel emotes (issue
// 13, item 7 and the emotes of item 3), at one page size and language:
// the owner sets a cover, a schedule entry and an emote in the studio
// through the page (a hostile upload is refused in the page's language);
// a guest opens the channel before it ever went live and sees the cover,
// "hasn't gone live yet" and the next scheduled stream; the channel goes
// live, the owner sends ":name:" in chat and the guest sees the image in
// the chat list and on the overlay, with the words kept as alt/title; the
// stream ends and the guest's card turns into the ended card with "last
// live"; after the last session is made three hours old (by the driver) a
// reload says "3 hours ago".
//
// The Go driver (internal/app/offline_test.go) acts when this script prints
// "NEED <what>" (live, end, age) and answers "DONE <what>" on stdin.
// Usage: node e2e/offline.mjs BASE SLUG OWNER LANG WIDTH HEIGHT FILES_DIR [SHOT_DIR]
// (the owner's password is OWNER-password; FILES_DIR has cover.png,
// emote.png and evil.svg).
import { createInterface } from 'node:readline';
import { launch, say } from './browser.mjs';

const [base, slug, owner, lang, width, height, files, shots] = process.argv.slice(2);
const size = `${width}x${height}`;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function need(what) {
  say('NEED ' + what);
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error('driver went away waiting for ' + what);
    if (value.trim() === 'DONE ' + what) return;
  }
}
const long = { timeout: 60000 };

const browser = await launch();
let code = 0;
try {
  const newPage = async () => {
    const ctx = await browser.newContext({ viewport: { width: Number(width), height: Number(height) } });
    await ctx.addCookies([{ name: 'lh_lang', value: lang, url: base }]);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    return page;
  };
  const shot = async (page, name, full = true) => {
    if (shots) await page.screenshot({ path: `${shots}/offline-${name}-${lang}-${size}.png`, fullPage: full });
  };

  // 1. The owner: cover (studio), schedule and emote (studio tab).
  const op = await newPage();
  await op.goto(base + '/login');
  await op.fill('#username', owner);
  await op.fill('#password', owner + '-password');
  await op.click('#login-button');
  await op.waitForURL(base + '/account');
  await op.goto(base + '/studio/' + slug);
  // The studio hooks the cover field up once it has read the channel.
  await op.waitForFunction(() => document.getElementById('set-title').value !== '', null, long);
  await op.setInputFiles('#cover-file', files + '/cover.png');
  await op.waitForSelector('#cover-img:not([hidden])', long);

  await op.goto(base + '/studio/' + slug);
  await op.click('.tabs a[href$="/channel"]');
  await op.waitForURL(base + '/studio/' + slug + '/channel');
  await op.waitForSelector('#sched-empty:not([hidden])');
  // Three days ahead at 20:30, the owner's local time (the date field wants YYYY-MM-DD).
  const day = await op.evaluate(() => {
    const d = new Date(Date.now() + 3 * 86400000);
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  });
  await op.fill('#sched-date', day);
  await op.fill('#sched-time', '20:30');
  await op.fill('#sched-title', 'Speedrun night 速通之夜');
  await op.click('#sched-add');
  await op.waitForSelector('#sched-rows li');
  say(`${size} STUDIO_SCHEDULE ${(await op.textContent('#sched-rows li')).replace(/\s+/g, ' ').trim()}`);
  // A stream in the past is refused in the page's language.
  await op.fill('#sched-date', '2020-01-01');
  await op.fill('#sched-title', 'too late');
  await op.click('#sched-add');
  await op.waitForSelector('#sched-status.error');
  say(`${size} SCHEDULE_PAST ${await op.textContent('#sched-status')}`);

  await op.fill('#emote-name', 'lhpog');
  await op.setInputFiles('#emote-file', files + '/emote.png');
  await op.click('#emote-add');
  await op.waitForSelector('#emote-rows li[data-name="lhpog"] img');
  await op.waitForFunction(() => { const i = document.querySelector('#emote-rows img'); return i && i.complete && i.naturalWidth > 0; });
  say(`${size} STUDIO_EMOTE ${await op.textContent('#emote-rows li')} count=${await op.textContent('#emote-count')}`);
  await op.fill('#emote-name', 'evil');
  await op.setInputFiles('#emote-file', files + '/evil.svg');
  await op.click('#emote-add');
  await op.waitForSelector('#emote-status.error');
  say(`${size} EMOTE_REFUSED ${await op.textContent('#emote-status')} rows=${await op.locator('#emote-rows li').count()}`);
  await shot(op, 'studio');

  // 2. A guest before the channel ever went live.
  const vp = await newPage();
  await vp.goto(base + '/');
  await vp.waitForSelector(`li[data-slug="${slug}"] .next-stream`, long);
  say(`${size} HOME_NEXT ${await vp.textContent(`li[data-slug="${slug}"] .next-stream`)}`);
  await shot(vp, 'home', false);
  await vp.goto(base + '/c/' + slug);
  await vp.waitForSelector('body[data-state="offline"]', long).catch(async (e) => {
    say('DIAG ' + await vp.evaluate(async (s) => { const r = await fetch('/api/channels/' + s); return r.status + ' ' + (await r.text()).slice(0, 300); }, slug));
    throw e;
  });
  await vp.waitForSelector('#card-next:not([hidden])', long);
  await vp.waitForFunction(() => { const i = document.getElementById('card-cover'); return !i.hidden && i.complete && i.naturalWidth > 0; }, null, long);
  const card = async () => vp.evaluate(() => ({
    title: document.getElementById('card-title').textContent,
    last: document.getElementById('card-last').textContent,
    next: document.getElementById('card-next').textContent,
    cover: document.getElementById('card-cover').getAttribute('src') || '',
    list: [...document.querySelectorAll('#schedule-list li')].map((l) => l.textContent.replace(/\s+/g, ' ').trim()),
    fits: (() => { // every line of the card is inside the stage, none cut off
      const s = document.querySelector('.stage').getBoundingClientRect();
      return [...document.querySelectorAll('.card-body > :not([hidden])')].filter((e) => getComputedStyle(e).display !== 'none')
        .every((e) => { const r = e.getBoundingClientRect(); return r.top >= s.top - 1 && r.bottom <= s.bottom + 1 && r.left >= s.left - 1 && r.right <= s.right + 1; });
    })(),
  }));
  let c = await card();
  say(`${size} OFFLINE title=${c.title} | last=${c.last} | next=${c.next} | cover=${c.cover.startsWith('/covers/' + slug)} | fits=${c.fits}`);
  say(`${size} UPCOMING ${c.list.join(' / ')}`);
  await shot(vp, 'never-live', false);

  // 3. Live: the owner's ":lhpog:" shows as the image for the guest.
  await need('live');
  await vp.waitForSelector('body[data-state="live"]', long);
  await op.goto(base + '/c/' + slug);
  await op.waitForSelector('#chat-form:not([hidden])', long);
  await op.waitForSelector('body[data-state="live"]', long);
  const text = 'gg :lhpog: well played :nope: <b>x</b>';
  await op.fill('#chat-text', text);
  await op.click('#chat-send');
  const sel = '#chat-list .text img.emote';
  await vp.waitForSelector(sel, long);
  await vp.waitForFunction((s) => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0; }, sel);
  const chat = await vp.evaluate(() => {
    const el = [...document.querySelectorAll('#chat-list .text')].find((e) => e.querySelector('img.emote'));
    const img = el.querySelector('img.emote');
    // The message read with each image as its alt text: what was typed.
    const read = (n) => n.nodeType === 3 ? n.textContent : n.tagName === 'IMG' ? n.alt : [...n.childNodes].map(read).join('');
    const words = read(el);
    return { words, alt: img.alt, title: img.title, src: img.getAttribute('src'), n: el.querySelectorAll('img').length, b: el.querySelectorAll('b').length, h: img.getBoundingClientRect().height };
  });
  say(`${size} CHAT_EMOTE words=${chat.words} alt=${chat.alt} title=${chat.title} imgs=${chat.n} bold=${chat.b} src=${/^\/emotes\/\d+\/lhpog\?v=/.test(chat.src)} height_ok=${chat.h >= 16 && chat.h <= 48}`);
  // The tokenizer on awkward input: names need both colons, an unknown
  // name's closing colon may open a known one, markup stays text.
  const tokens = await vp.evaluate(() => [':not:lhpog:', '::lhpog::', ':lhpog::lhpog:', 'lhpog:', ':lh pog:', '<img src=x onerror=alert(1)>:lhpog:']
    .map((s) => LHEmotes.pieces(s).map((p) => typeof p === 'string' ? JSON.stringify(p) : '[' + p.name + ']').join('+')).join(' | '));
  say(`${size} TOKENS ${tokens}`);
  const overlay = await vp.waitForFunction(() => [...document.querySelectorAll('#danmaku-layer .dm')].some((d) => d.querySelector('img.emote[alt=":lhpog:"]')), null, { timeout: 15000 })
    .then(() => true, () => false);
  say(`${size} OVERLAY_EMOTE ${overlay}`);
  await shot(vp, 'live-chat', true);

  // 4. The stream ends while the guest watches: the ended card.
  await need('end');
  await vp.waitForSelector('body[data-state="ended"]', long);
  await vp.waitForSelector('#card-next:not([hidden])', long);
  c = await card();
  say(`${size} ENDED title=${c.title} | last=${c.last} | next=${c.next} | cover=${c.cover.startsWith('/covers/' + slug)} | fits=${c.fits}`);
  await shot(vp, 'ended', false);

  // 5. The last session three hours ago (the driver moved it): a fresh visit says so.
  await need('age');
  await vp.reload();
  await vp.waitForSelector('body[data-state="offline"]', long);
  await vp.waitForFunction(() => /3/.test(document.getElementById('card-last').textContent), null, long);
  c = await card();
  say(`${size} AGED title=${c.title} | last=${c.last} | next=${c.next} | fits=${c.fits}`);
  await shot(vp, 'last-live', false);
  await shot(vp, 'last-live-page', true);
  say('FINISHED');
} catch (e) {
  say('SCRIPT_ERROR ' + (e && e.stack || e));
  code = 1;
} finally {
  await browser.close();
  process.exit(code);
}
