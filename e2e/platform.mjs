// The platform as a newcomer meets it, in one language (en or zh-CN):
// a streamer signs up, an admin grants streaming, the streamer creates a
// channel in the studio, copies the server and key, goes live with ffmpeg
// and sees the preview and live numbers move; a visitor finds the channel
// on the home page and watches; a moderator mutes a chatter from the
// studio; the admin bans a user. Screenshots at 1280×800 and 375×812.
// Usage: node e2e/platform.mjs BASE LANG ADMIN MODERATOR CHATTER SHOT_DIR
// (passwords are NAME-password; the streamer is made here).
import { spawn } from 'node:child_process';
import { launch, say } from './browser.mjs';

const [base, lang, adminName, modName, chatterName, shots] = process.argv.slice(2);
const suffix = lang === 'en' ? 'en' : 'zh';
const streamerName = 'star_' + suffix;
const slug = 'stage-' + suffix;

const browser = await launch();
let ffmpeg = null;
try {
  const open = async (viewport) => {
    const ctx = await browser.newContext({ locale: lang, viewport: viewport || { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
    page.on('dialog', (d) => d.accept(d.type() === 'prompt' ? (d.message().match(/\d|分钟|minutes/) ? '10' : 'spam') : undefined));
    return page;
  };
  const shot = async (page, name) => {
    for (const [w, h] of [[1280, 800], [375, 812]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(150);
      await page.screenshot({ path: `${shots}/${lang}-${name}-${w}x${h}.png` });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  const login = async (page, name) => {
    await page.goto(base + '/login');
    await page.fill('#username', name);
    await page.fill('#password', name + '-password');
    await page.click('#login-button');
    await page.waitForURL(base + '/account');
  };

  // The pages speak the browser's language.
  const streamer = await open();
  await streamer.goto(base + '/signup');
  const htmlLang = await streamer.getAttribute('html', 'lang');
  const heading = await streamer.textContent('h1');
  say(`LANG html=${htmlLang} signup_heading=${heading}`);

  // 1. The streamer signs up through the page (proof of work included).
  await streamer.fill('#username', streamerName);
  await streamer.fill('#password', streamerName + '-password');
  await streamer.click('#signup-button');
  await streamer.waitForURL(base + '/account', { timeout: 30000 });

  // 2. The admin grants streaming at /admin/users.
  const admin = await open();
  await login(admin, adminName);
  await admin.goto(base + '/admin/users');
  await admin.fill('#q', streamerName);
  await admin.click('#user-search button[type=submit]');
  const row = admin.locator(`#user-rows tr[data-user="${streamerName}"]`);
  await row.locator('button.stream-toggle').click();
  await admin.waitForFunction((n) => {
    const tr = document.querySelector(`#user-rows tr[data-user="${n}"]`);
    return tr && tr.children[2].textContent.split(', ').length === 2;
  }, streamerName);
  say('GRANTED ' + (await row.locator('td').nth(2).textContent()));

  // 3. The streamer creates a channel in the studio and copies server and key.
  await streamer.goto(base + '/studio');
  await streamer.waitForSelector('#create-section:not([hidden])');
  await streamer.fill('#create-slug', slug);
  await streamer.fill('#create-title', lang === 'en' ? 'Evening songs' : '晚间歌会');
  await streamer.click('#create-button');
  await streamer.waitForURL(base + '/studio/' + slug);
  await streamer.fill('#set-category', lang === 'en' ? 'Music' : '音乐');
  await streamer.fill('#set-tags', lang === 'en' ? 'acoustic, live' : '原创, 现场');
  await streamer.click('#settings-form button[type=submit]');
  await streamer.waitForFunction(() => document.getElementById('settings-status').className === 'ok');
  await streamer.click('#show-key');
  const server = await streamer.inputValue('#ingest-url');
  const key = await streamer.inputValue('#stream-key');
  await streamer.click('#copy-key');
  say(`KEY server=${server.replace(/:\d+/, ':PORT')} key_len=${key.length}`);
  if (!key) throw new Error('the studio showed no stream key');

  // 4. Live with ffmpeg, using exactly what the studio showed.
  ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-f', 'flv', server + '/' + key], { stdio: 'ignore' });
  await streamer.waitForSelector('#live-badge.live', { timeout: 30000 });
  await streamer.waitForFunction(() => {
    const v = document.getElementById('preview');
    return v.currentTime > 0.5 && !v.paused;
  }, null, { timeout: 30000 });
  say('PREVIEW playing t=' + (await streamer.evaluate(() => document.getElementById('preview').currentTime.toFixed(1))));

  // 5. A visitor finds it on the home page and watches.
  const visitor = await open();
  await visitor.goto(base + '/');
  const card = visitor.locator(`#grid li[data-slug="${slug}"] a`);
  await card.waitFor({ timeout: 20000 });
  const cardText = await card.textContent();
  await visitor.fill('#search-q', streamerName);
  await visitor.click('#search-form button[type=submit]');
  await visitor.waitForSelector(`#grid li[data-slug="${slug}"]`);
  await shot(visitor, 'home');
  await visitor.click(`#grid li[data-slug="${slug}"] a`);
  await visitor.waitForURL(base + '/c/' + slug);
  await visitor.waitForSelector('body[data-state="live"]', { timeout: 30000 });
  await visitor.waitForFunction(() => document.getElementById('video').currentTime > 0.5, null, { timeout: 30000 });
  say(`WATCHING from_home card=${JSON.stringify(cardText.replace(/\s+/g, ' ').trim())}`);

  // 6. A chatter talks; the studio's numbers move.
  const chatter = await open();
  await login(chatter, chatterName);
  await chatter.goto(base + '/c/' + slug);
  await chatter.waitForSelector('#chat-form:not([hidden])');
  await chatter.fill('#chat-text', lang === 'en' ? 'hello stage' : '晚上好');
  await chatter.click('#chat-send');
  await streamer.waitForFunction(() => Number(document.getElementById('stat-dpm').textContent) >= 1 &&
    Number(document.getElementById('stat-online').textContent) >= 2, null, { timeout: 30000 });
  say(`STATS danmaku_per_min=${await streamer.textContent('#stat-dpm')} online=${await streamer.textContent('#stat-online')} viewers=${await streamer.textContent('#stat-viewers')}`);
  await shot(streamer, 'studio');
  await shot(chatter, 'watch');

  // 6b. The admin, watching, reports the chatter's message; the studio handles it.
  await admin.goto(base + '/c/' + slug);
  const line = admin.locator('#chat-list li', { hasText: lang === 'en' ? 'hello stage' : '晚上好' }).first();
  await line.waitFor({ timeout: 10000 });
  await line.locator('button.report').click();
  await admin.waitForFunction(() => document.getElementById('chat-status').className === 'ok');
  const report = streamer.locator(`#report-rows tr[data-target="${chatterName}"]`);
  await report.waitFor({ timeout: 10000 });
  await report.locator('button.report-done').click();
  await report.waitFor({ state: 'detached', timeout: 10000 });
  say('REPORT filed_from_watch_page handled_in_studio');
  await admin.goto(base + '/admin/users');

  // 7. The streamer appoints a moderator; the moderator mutes the chatter from the studio.
  await streamer.fill('#mod-name', modName);
  await streamer.click('#mod-form button[type=submit]');
  await streamer.waitForFunction((n) => document.getElementById('moderators').textContent.includes(n), modName);
  const mod = await open();
  await login(mod, modName);
  await mod.goto(base + '/studio/' + slug);
  const msg = mod.locator(`#mod-messages li[data-user="${chatterName}"]`).first();
  await msg.waitFor({ timeout: 10000 });
  await msg.locator('button.mod-mute').click();
  await mod.waitForFunction(() => document.getElementById('mod-status').className === 'ok');
  await chatter.fill('#chat-text', 'still here?');
  await chatter.click('#chat-send');
  await chatter.waitForFunction(() => document.getElementById('chat-status').textContent !== '', null, { timeout: 5000 });
  say('MUTED chatter_sees=' + JSON.stringify(await chatter.textContent('#chat-status')));
  const sanction = streamer.locator(`#sanction-rows tr[data-user="${chatterName}"]`);
  await sanction.waitFor({ timeout: 10000 });
  say('SANCTION listed_in_studio ' + (await sanction.locator('td').nth(1).textContent()));

  // 8. The admin bans the chatter from the platform.
  await admin.fill('#q', chatterName);
  await admin.click('#user-search button[type=submit]');
  const crow = admin.locator(`#user-rows tr[data-user="${chatterName}"]`);
  await crow.locator('button.ban-toggle').click();
  await admin.waitForFunction((n) => {
    const tr = document.querySelector(`#user-rows tr[data-user="${n}"]`);
    return tr && tr.querySelector('button.ban-toggle:not(.danger)');
  }, chatterName);
  say('BANNED status=' + (await crow.locator('td').nth(3).textContent()));
  await shot(admin, 'admin-users');
  await admin.goto(base + '/admin/settings');
  // Both fields are filled from their own requests: wait for each (the share
  // placeholder holds a number once its answer arrived).
  await admin.waitForFunction(() => document.getElementById('lim-writes-account').placeholder !== '' &&
    /\d/.test(document.getElementById('default-share').placeholder));
  say('SETTINGS writes_per_account=' + (await admin.getAttribute('#lim-writes-account', 'placeholder')) +
    ' share=' + (await admin.getAttribute('#default-share', 'placeholder')));
  await shot(admin, 'admin-settings');

  // 9. Everything is usable at 375 px: nothing wider than the screen.
  await visitor.goto(base + '/');
  await visitor.waitForSelector(`#grid li[data-slug="${slug}"]`);
  for (const [name, page] of [['home', visitor], ['watch', chatter], ['studio', streamer]]) {
    await page.setViewportSize({ width: 375, height: 812 });
    await page.waitForTimeout(200);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    const order = await page.evaluate(() => {
      const v = document.querySelector('.stage, .preview');
      const c = document.querySelector('.chat');
      return v && c ? (v.getBoundingClientRect().top < c.getBoundingClientRect().top ? 'player-above-chat' : 'chat-above-player') : 'n/a';
    });
    say(`NARROW ${name} scroll_width=${wide} ${order}`);
    // Every visible control has a name a screen reader can say, and the
    // first Tab stop skips to the content.
    await page.setViewportSize({ width: 1280, height: 800 });
    const unnamed = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
      .filter((el) => el.getClientRects().length > 0)
      .filter((el) => !((el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('title') ||
        (el.tagName === 'BUTTON' && el.textContent.trim())))
      .map((el) => el.id || el.outerHTML.slice(0, 60)));
    await page.reload();
    await page.waitForLoadState('domcontentloaded');
    await page.keyboard.press('Tab');
    const firstStop = await page.evaluate(() => document.activeElement.className);
    say(`A11Y ${name} unnamed=${JSON.stringify(unnamed)} first_tab=${firstStop}`);
  }
} finally {
  if (ffmpeg) ffmpeg.kill('SIGKILL');
  await browser.close();
}
