// Danmaku for the watch page: one WebSocket (docs/protocol.md, version 1),
// messages flying over the video in non-overlapping lanes and listed in the
// chat panel. Text is always inserted as text, never as HTML.
(function () {
  'use strict';
  const { t, giftName, tierName, api, APIError, explain, toast, me: whoami, newKey, room } = window.Livehouse;
  const root = document.querySelector('main.watch');
  if (!root) return;
  const slug = root.dataset.slug;
  const layer = document.getElementById('danmaku-layer');
  const list = document.getElementById('chat-list');
  // atEnd: the viewer is at the newest line (not scrolled up to read).
  // New lines keep the list there only then, as on Twitch and Bilibili.
  const atEnd = () => list.scrollHeight - list.scrollTop - list.clientHeight < 24;
  const follow = (wasAtEnd) => { if (wasAtEnd) list.scrollTop = list.scrollHeight; };
  const online = document.getElementById('online-count');
  const form = document.getElementById('chat-form');
  const status = document.getElementById('chat-status');
  const seen = new Set();
  let me = null;
  // Messages show in the page's one toast (they never pile up); the chat's
  // and the gift bar's status lines (hidden) keep the last one of each.
  function tell(el, text, kind) {
    el.textContent = text;
    el.className = kind;
    toast(text, kind);
  }
  let conn = null;

  // Overlay settings live in this browser only.
  const settings = Object.assign({ on: true, opacity: 0.9, density: 1, size: 22, block: '', shield: 0 },
    JSON.parse(localStorage.getItem('lh-danmaku') || '{}'));
  function bindSetting(id, key, prop) {
    const el = document.getElementById(id);
    el[prop] = settings[key];
    el.addEventListener('input', function () {
      settings[key] = prop === 'checked' ? el.checked : (prop === 'value' && el.type === 'range' ? Number(el.value) : el.value);
      localStorage.setItem('lh-danmaku', JSON.stringify(settings));
      layer.style.opacity = settings.on ? settings.opacity : 0;
    });
  }
  bindSetting('dm-on', 'on', 'checked');
  bindSetting('dm-opacity', 'opacity', 'value');
  bindSetting('dm-density', 'density', 'value');
  bindSetting('dm-size', 'size', 'value');
  bindSetting('dm-block', 'block', 'value');
  bindSetting('dm-shield', 'shield', 'value');
  // The shield (Bilibili's 智能屏蔽): level L hides messages the content
  // filter scored at or above 100 − 10·L; never for the channel's moderators.
  let moderates = false;
  const shielded = (m) => !moderates && settings.shield > 0 && (m.score || 0) >= 100 - 10 * settings.shield;
  function showShield() {
    const out = document.getElementById('dm-shield-value');
    out.textContent = settings.shield > 0 ? t('mod.shield_value', { n: settings.shield, score: 100 - 10 * settings.shield }) : t('mod.shield_off');
    document.querySelectorAll('#chat-list li[data-score]').forEach((li) => { li.hidden = shielded({ score: Number(li.dataset.score) }); });
  }
  document.getElementById('dm-shield').addEventListener('input', showShield);
  layer.style.opacity = settings.on ? settings.opacity : 0;
  showShield();

  function blocked(text) {
    const words = settings.block.split(',').map((w) => w.trim().toLowerCase()).filter(Boolean);
    const lower = text.toLowerCase();
    return words.some((w) => lower.includes(w));
  }

  // Lanes: a scrolling message takes the first lane whose previous message
  // has fully entered the screen; top/bottom messages hold a lane for 4 s.
  const laneFree = { scroll: [], top: [], bottom: [] };
  function pickLane(mode, now, enterMs) {
    const lineH = settings.size * 1.3;
    const lanes = Math.max(1, Math.floor(layer.clientHeight * settings.density / lineH));
    const free = laneFree[mode];
    for (let i = 0; i < lanes; i++) {
      if (!free[i] || free[i] <= now) {
        free[i] = now + enterMs;
        return i;
      }
    }
    return -1; // the overlay is full at this density: skip it on screen (it stays in the panel)
  }

  // renderText fills el with a message's text, built from text nodes only
  // (never HTML). The @names the server resolved (mentions) are marked. Every
  // place that shows a message's text goes through here, so rendering hooks
  // (channel emotes) have one place to slot in.
  function renderText(el, text, mentions) {
    el.textContent = '';
    // plain appends words that are not a mention; channel emotes
    // (emotes.js) draw into a span of their own so a late-loaded emote list
    // can redraw just that piece.
    const plain = (s) => {
      if (!window.LHEmotes || s.indexOf(':') === -1) { el.append(document.createTextNode(s)); return; }
      const span = document.createElement('span');
      window.LHEmotes.render(span, s);
      el.append(span);
    };
    const names = (mentions || []).map((n) => n.toLowerCase());
    if (!names.length) { plain(text); return; }
    const re = /@([\p{L}\p{N}_.\-]+)/gu;
    let last = 0, m;
    while ((m = re.exec(text)) !== null) {
      const name = m[1].replace(/\.+$/, '');
      const before = m.index > 0 ? text[m.index - 1] : ' ';
      if (/[\p{L}\p{N}_.\-@]/u.test(before) || !names.includes(name.toLowerCase())) continue;
      if (m.index > last) plain(text.slice(last, m.index));
      const at = document.createElement('span');
      at.className = 'at';
      at.textContent = '@' + name;
      el.append(at);
      last = m.index + 1 + name.length;
      re.lastIndex = last;
    }
    if (last < text.length) plain(text.slice(last));
  }

  // mentionsMe: the message @names this viewer (the server's list; the
  // text itself for a message from an older server).
  function mentionsMe(m) {
    if (!me || !me.username) return false;
    const mine = me.username.toLowerCase();
    if (m.mentions) return m.mentions.some((n) => n.toLowerCase() === mine);
    return false;
  }

  const pad2 = (n) => String(n).padStart(2, '0');
  function clock(ms) {
    const d = new Date(ms);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }

  function fly(m, mine) {
    if (!settings.on || blocked(m.text) || shielded(m) || document.hidden) return;
    const el = document.createElement('div');
    el.className = 'dm' + (mine ? ' mine' : '');
    el.dataset.id = m.id;
    renderText(el, m.text, m.mentions);
    el.style.color = m.color;
    el.style.fontSize = settings.size + 'px';
    el.style.visibility = 'hidden';
    layer.appendChild(el);
    const w = layer.clientWidth, tw = el.offsetWidth, now = performance.now();
    const lineH = settings.size * 1.3;
    const duration = 8000;
    const mode = m.mode === 'top' || m.mode === 'bottom' ? m.mode : 'scroll';
    const speed = (w + tw) / duration;
    const lane = pickLane(mode, now, mode === 'scroll' ? (tw + 20) / speed : 4000);
    if (lane < 0) { el.remove(); return; }
    el.style.visibility = '';
    if (mode === 'scroll') {
      el.style.top = (lane * lineH) + 'px';
      el.animate([{ transform: 'translateX(' + w + 'px)' }, { transform: 'translateX(' + (-tw) + 'px)' }],
        { duration: duration, easing: 'linear' }).onfinish = () => el.remove();
    } else {
      el.style.left = Math.max(0, (w - tw) / 2) + 'px';
      if (mode === 'top') el.style.top = (lane * lineH) + 'px';
      else el.style.bottom = (lane * lineH) + 'px';
      setTimeout(() => el.remove(), 4000);
    }
  }

  function addToPanel(m, mine) {
    const li = document.createElement('li');
    li.dataset.id = m.id;
    li.dataset.user = m.user;
    if (m.score) {
      li.dataset.score = m.score;
      li.hidden = shielded(m);
    }
    if (mine) li.className = 'mine';
    if (!mine && mentionsMe(m)) {
      li.classList.add('mention');
      li.setAttribute('aria-label', t('chat.mentions_you'));
    }
    if (m.reply) {
      const q = document.createElement('div');
      q.className = 'quote';
      q.dataset.replyTo = m.reply.id;
      if (m.reply.excerpt) {
        const qt = document.createElement('span');
        renderText(qt, m.reply.excerpt);
        q.append(document.createTextNode('↪ ' + t('chat.quote', { name: m.reply.user, text: '' })), qt);
      } else q.textContent = '↪ ' + t('chat.quote_deleted'); // the quoted message was deleted
      li.appendChild(q);
    }
    const ts = document.createElement('time');
    ts.className = 'ts';
    ts.dateTime = new Date(m.at).toISOString();
    ts.textContent = clock(m.at);
    const lv = document.createElement('span');
    lv.className = 'lv';
    lv.textContent = t('chat.level', { n: m.level });
    const badges = [lv];
    const fan = m.fan || {};
    if (fan.member_tier) {
      const b = document.createElement('span');
      b.className = 'member tier' + fan.member_tier;
      b.textContent = tierNames[fan.member_tier] || t('chat.member', { n: fan.member_tier });
      badges.push(b);
    }
    if (fan.medal_level) {
      const b = document.createElement('span');
      b.className = 'medal';
      b.textContent = fan.medal + ' ' + fan.medal_level;
      badges.push(b);
    }
    const name = document.createElement('button');
    name.type = 'button';
    name.className = 'name';
    name.textContent = t('chat.name', { name: m.user });
    name.setAttribute('aria-label', t('chat.open_card', { name: m.user }));
    name.addEventListener('click', () => openCard(m.user));
    const text = document.createElement('span');
    text.className = 'text';
    renderText(text, m.text, m.mentions);
    li.append(ts, ...badges, name, text);
    recentChatters.delete(m.user);
    recentChatters.add(m.user);
    if (recentChatters.size > 50) recentChatters.delete(recentChatters.values().next().value);
    if (me && me.via === 'session') {
      const rb = document.createElement('button');
      rb.type = 'button';
      rb.className = 'reply';
      rb.textContent = '↩';
      rb.setAttribute('aria-label', t('chat.reply', { name: m.user }));
      rb.addEventListener('click', () => startReply(m));
      li.appendChild(rb);
    }
    if (me && me.via === 'session' && !mine) {
      const rep = document.createElement('button');
      rep.type = 'button';
      rep.className = 'report';
      rep.textContent = '⚑';
      rep.setAttribute('aria-label', t('chat.report', { name: m.user }));
      rep.addEventListener('click', async () => {
        const reason = prompt(t('chat.report_reason'));
        if (!reason) return;
        try {
          await api('POST', '/api/reports', { username: m.user, channel: slug, message_id: m.id, reason });
          tell(status, t('chat.reported'), 'ok');
        } catch (e) { tell(status, e.message, 'error'); }
      });
      li.appendChild(rep);
    }
    const wasAtEnd = atEnd() || mine;
    list.appendChild(li);
    while (list.children.length > 300) list.firstChild.remove();
    follow(wasAtEnd);
  }

  function onDanmaku(m, live) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    const mine = me && m.user_id === me.id;
    addToPanel(m, mine);
    if (live) fly(m, mine);
  }

  const likeCount = document.getElementById('like-count');
  const shareCount = document.getElementById('share-count');
  function notice(text) {
    const li = document.createElement('li');
    li.className = 'notice';
    li.textContent = text;
    const wasAtEnd = atEnd();
    list.appendChild(li);
    follow(wasAtEnd);
  }

  function onEvent(e, live) {
    if (e.type === 'danmaku') onDanmaku(e, live);
    else if (e.type === 'gift') onGift(e, live);
    else if (e.type === 'membership') onMembership(e, live);
    else if (e.type === 'likes') likeCount.textContent = e.total;
    else if (e.type === 'live') document.dispatchEvent(new CustomEvent('livehouse:live', { detail: e.state }));
    else if (e.type === 'shares') shareCount.textContent = e.total;
    else if (e.type === 'joins') {
      const names = (e.names || []).slice();
      if (e.others > 0) names.push(t(e.others === 1 ? 'chat.one_other' : 'chat.others', { n: e.others }));
      notice(names.length > 1
        ? t('chat.joined_many', { names: names.slice(0, -1).join(t('chat.list_sep')), last: names[names.length - 1] })
        : t('chat.joined_one', { name: names[0] }));
    }
    else if (e.type === 'delete') {
      document.querySelectorAll('[data-id="' + CSS.escape(e.deleted_id) + '"]').forEach((el) => el.remove());
      document.querySelectorAll('#chat-list .quote[data-reply-to="' + CSS.escape(e.deleted_id) + '"]').forEach((q) => {
        q.textContent = '↪ ' + t('chat.quote_deleted');
      });
      if (replyTo && replyTo.id === e.deleted_id) cancelReply();
    } else if (e.type === 'online') online.textContent = e.count;
    else if (e.type === 'review' && held.has(e.ticket)) {
      held.delete(e.ticket);
      if (e.decision === 'approved') notice(t('mod.held_approved'));
      else appealable(t('mod.held_denied'), e.ticket);
    }
  }

  // Held messages: the sender keeps each ticket to recognise the review
  // event about it; a refusal offers an appeal (POST /api/moderation/appeals).
  const held = new Set();
  function appealable(text, ticket) {
    const li = document.createElement('li');
    li.className = 'notice verdict';
    li.append(document.createTextNode(text + ' '));
    if (ticket) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'appeal';
      b.textContent = t('mod.appeal');
      b.addEventListener('click', async () => {
        const reason = prompt(t('mod.appeal_reason'));
        if (reason === null) return;
        try {
          await api('POST', '/api/moderation/appeals', { ticket, reason });
          b.replaceWith(document.createTextNode(t('mod.appeal_sent')));
        } catch (err) { tell(status, err.message, 'error'); }
      });
      li.appendChild(b);
    }
    const wasAtEnd = atEnd();
    list.appendChild(li);
    follow(true);
  }

  function connect() {
    conn = room(slug, {
      onEvent: onEvent,
      onJoined(f) {
        if (f.max_length) setMaxLength(f.max_length);
        online.textContent = f.online;
        likeCount.textContent = f.likes;
        shareCount.textContent = f.shares;
      },
      onError(f) {
        tell(status, explain(f), 'error');
        if (f.code === 'message_blocked') {
          appealable(t('mod.blocked', { category: t('mod.category.' + (f.category || 'custom')) }), f.ticket);
          cancelReply();
        }
        if (f.code === 'reply_not_found') cancelReply();
      },
      onSent() { status.textContent = ''; cancelReply(); },
      onHeld(f) {
        held.add(f.ticket);
        tell(status, t('mod.pending'), '');
        notice(t('mod.pending'));
        list.lastChild.classList.add('held');
        cancelReply();
      },
      onAccount(f) {
        if (!me) return;
        form.hidden = f.platform_banned;
        if (f.platform_banned) notice(t('err.reason.platform_banned'));
      },
      onLoginEnded() {
        me = null;
        form.hidden = true;
        document.getElementById('chat-login').hidden = false;
        notice(t('chat.login_ended'));
      },
    });
  }

  async function loadMe() {
    me = await whoami();
    if (me && me.via === 'session') {
      form.hidden = false;
      document.getElementById('chat-login').hidden = true;
      loadGifts();
      // Moderators (and the owner, admins) get the viewer list.
      api('GET', '/api/channels/' + encodeURIComponent(slug) + '/chatters/' + encodeURIComponent(me.username))
        .then((c) => { viewersBtn.hidden = !c.moderates; moderates = c.moderates; showShield(); }).catch(() => {});
    }
  }

  let nonce = 0;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = document.getElementById('chat-text');
    const text = input.value.trim();
    if (!text) return;
    if ([...text].length > maxLength) {
      tell(status, t('chat.too_long', { max: maxLength }), 'error');
      return;
    }
    const frame = {
      type: 'send', text: text, nonce: String(++nonce),
      color: document.getElementById('chat-color').value, mode: document.getElementById('chat-mode').value,
    };
    if (replyTo) frame.reply_to = replyTo.id;
    const sent = conn && conn.send(frame);
    if (sent) { input.value = ''; updateCounter(); }
  });

  // The character counter: the channel's real limit (joined.max_length),
  // counted in characters as the server counts them.
  const input = document.getElementById('chat-text');
  const counter = document.getElementById('chat-counter');
  let maxLength = Number(input.getAttribute('maxlength')) || 200;
  function setMaxLength(n) {
    maxLength = n;
    input.setAttribute('maxlength', String(n));
    updateCounter();
  }
  function updateCounter() {
    const n = [...input.value].length;
    counter.textContent = n + '/' + maxLength;
    counter.setAttribute('aria-label', t('chat.counter_label', { n, max: maxLength }));
    counter.classList.toggle('near', n >= maxLength * 0.9 && n <= maxLength);
    counter.classList.toggle('over', n > maxLength);
  }
  input.addEventListener('input', () => { updateCounter(); mentionComplete(); });
  updateCounter();

  // Timestamps: shown or not, remembered in this browser.
  const tsToggle = document.getElementById('chat-ts');
  tsToggle.checked = localStorage.getItem('lh-chat-ts') === '1';
  list.classList.toggle('show-ts', tsToggle.checked);
  tsToggle.addEventListener('change', () => {
    localStorage.setItem('lh-chat-ts', tsToggle.checked ? '1' : '0');
    list.classList.toggle('show-ts', tsToggle.checked);
  });

  // insertAtCursor puts text where the caret is (replacing a selection).
  function insertAtCursor(text) {
    const start = input.selectionStart ?? input.value.length, end = input.selectionEnd ?? start;
    const next = input.value.slice(0, start) + text + input.value.slice(end);
    if ([...next].length > maxLength) return;
    input.value = next;
    input.focus();
    input.setSelectionRange(start + text.length, start + text.length);
    updateCounter();
  }

  // The emoji picker: a fixed list, a grid of buttons; arrows move, Escape closes.
  const EMOJI = ['😀', '😂', '🤣', '😊', '😍', '😘', '😎', '🤔', '😮', '😢', '😭', '😡', '👍', '👎', '👏', '🙏',
    '💪', '👋', '🙌', '🤝', '❤️', '💔', '🔥', '✨', '🎉', '🎁', '🌹', '⭐', '💯', '✅', '❌', '❓', '⚡', '🏆', '🎮', '🎵',
    '🍺', '☕', '🐶', '🐱'];
  const emojiBtn = document.getElementById('chat-emoji');
  const emojiGrid = document.getElementById('chat-emoji-grid');
  for (const e of EMOJI) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = e;
    b.setAttribute('aria-label', e);
    b.addEventListener('click', () => { insertAtCursor(e); closeEmoji(false); });
    emojiGrid.appendChild(b);
  }
  let caret = null;
  function openEmoji() {
    caret = [input.selectionStart, input.selectionEnd];
    emojiGrid.hidden = false;
    emojiBtn.setAttribute('aria-expanded', 'true');
    emojiGrid.querySelector('button').focus();
  }
  function closeEmoji(refocusButton) {
    emojiGrid.hidden = true;
    emojiBtn.setAttribute('aria-expanded', 'false');
    if (refocusButton) emojiBtn.focus();
  }
  emojiBtn.addEventListener('click', () => (emojiGrid.hidden ? openEmoji() : closeEmoji(true)));
  // Focus moving to the grid loses the input's caret: put it back first.
  emojiGrid.addEventListener('mousedown', (ev) => ev.preventDefault());
  emojiGrid.addEventListener('focusin', () => {
    if (caret && document.activeElement !== input) input.setSelectionRange(caret[0], caret[1]);
  });
  emojiGrid.addEventListener('keydown', (ev) => {
    const buttons = [...emojiGrid.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    const cols = Math.max(1, Math.round(emojiGrid.clientWidth / (buttons[0].offsetWidth || 32)));
    const go = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[ev.key];
    if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); closeEmoji(true); }
    else if (go && i >= 0) {
      ev.preventDefault();
      buttons[Math.min(buttons.length - 1, Math.max(0, i + go))].focus();
    }
  });
  document.addEventListener('click', (ev) => {
    if (!emojiGrid.hidden && !emojiGrid.contains(ev.target) && ev.target !== emojiBtn) closeEmoji(false);
  });
  input.addEventListener('keyup', () => { caret = [input.selectionStart, input.selectionEnd]; });
  input.addEventListener('click', () => { caret = [input.selectionStart, input.selectionEnd]; });

  // @name completion from the people who spoke lately: a chip under the
  // input offers the latest match; Tab (or a click) takes it, Escape dismisses.
  const recentChatters = new Set();
  const chip = document.getElementById('chat-complete');
  let completing = null;
  function mentionComplete() {
    const pos = input.selectionStart ?? input.value.length;
    const m = /(^|[^\p{L}\p{N}_.\-@])@([\p{L}\p{N}_.\-]*)$/u.exec(input.value.slice(0, pos));
    completing = null;
    chip.hidden = true;
    if (!m) return;
    const prefix = m[2].toLowerCase();
    const pick = [...recentChatters].reverse().find((n) => n.toLowerCase().startsWith(prefix) && (!me || n !== me.username));
    if (!pick || pick.toLowerCase() === prefix) return;
    completing = { from: pos - m[2].length, to: pos, name: pick };
    chip.textContent = '@' + pick + ' ⇥';
    chip.setAttribute('aria-label', t('chat.complete', { name: pick }));
    chip.hidden = false;
  }
  function takeCompletion() {
    if (!completing) return;
    input.setSelectionRange(completing.from, completing.to);
    insertAtCursor(completing.name + ' ');
    completing = null;
    chip.hidden = true;
  }
  chip.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep the caret in the input
  chip.addEventListener('click', takeCompletion);
  input.addEventListener('keydown', (ev) => {
    if (!completing || (ev.key !== 'Tab' && ev.key !== 'Escape')) return;
    ev.preventDefault();
    if (ev.key === 'Tab') takeCompletion();
    else { completing = null; chip.hidden = true; }
  });

  // Replies: the bar above the input says who is answered; the sent
  // message carries reply_to.
  const replyBar = document.getElementById('chat-reply');
  const replyText = document.getElementById('chat-reply-text');
  let replyTo = null;
  function startReply(m) {
    replyTo = m;
    const ex = [...m.text].length > 40 ? [...m.text].slice(0, 40).join('') + '…' : m.text;
    replyText.textContent = t('chat.replying', { name: m.user, text: ex });
    replyBar.hidden = false;
    input.focus();
  }
  function cancelReply() {
    replyTo = null;
    replyBar.hidden = true;
    replyText.textContent = '';
  }
  document.getElementById('chat-reply-cancel').addEventListener('click', () => { cancelReply(); input.focus(); });

  // The user card: level, badges, their channel (follow), and for
  // moderators mute and ban.
  const card = document.getElementById('chat-card');
  const cardStatus = document.getElementById('chat-card-status');
  let cardUser = null;
  async function openCard(name) {
    let c;
    try {
      c = await api('GET', '/api/channels/' + encodeURIComponent(slug) + '/chatters/' + encodeURIComponent(name));
    } catch (e) { status.textContent = e.message; status.className = 'error'; return; }
    cardUser = c;
    document.getElementById('chat-card-name').textContent = c.name;
    const roles = [];
    if (c.owner) roles.push(t('chat.card_owner'));
    if (c.moderator) roles.push(t('chat.card_moderator'));
    document.getElementById('chat-card-roles').textContent = roles.join(' · ');
    const facts = document.getElementById('chat-card-facts');
    facts.textContent = '';
    const fact = (cls, text) => { const li = document.createElement('li'); li.className = cls; li.textContent = text; facts.appendChild(li); };
    fact('card-level', t('chat.card_level', { n: c.level }));
    const fan = c.fan || {};
    fact('card-tier', fan.member_tier ? t('chat.card_member', { tier: tierNames[fan.member_tier] || t('chat.member', { n: fan.member_tier }) }) : t('chat.card_not_member'));
    fact('card-medal', fan.medal_level ? t('chat.card_medal', { medal: fan.medal, level: fan.medal_level }) : t('chat.card_no_medal'));
    const link = document.getElementById('chat-card-channel');
    const follow = document.getElementById('chat-card-follow');
    link.hidden = !c.channel;
    follow.hidden = true;
    if (c.channel) {
      link.href = '/c/' + encodeURIComponent(c.channel);
      link.textContent = t('chat.card_channel', { name: c.name });
      if (me && me.via === 'session' && me.username !== c.name) {
        api('GET', '/api/channels/' + encodeURIComponent(c.channel) + '/follow').then((f) => {
          setFollow(f.following);
          follow.hidden = false;
        }).catch(() => {});
      }
    }
    document.getElementById('chat-card-mod').hidden = !c.can_moderate;
    document.getElementById('chat-card-mute').hidden = !!c.muted;
    document.getElementById('chat-card-unmute').hidden = !c.muted;
    cardStatus.textContent = c.muted ? t('chat.card_muted', { name: c.name }) : c.banned ? t('chat.card_banned', { name: c.name }) : '';
    cardStatus.className = '';
    if (!card.open) card.showModal();
    document.getElementById('chat-card-close').focus();
  }
  const followBtn = document.getElementById('chat-card-follow');
  function setFollow(on) {
    followBtn.setAttribute('aria-pressed', String(on));
    followBtn.textContent = on ? t('chat.card_following') : t('chat.card_follow');
  }
  followBtn.addEventListener('click', async () => {
    const on = followBtn.getAttribute('aria-pressed') === 'true';
    try {
      await api(on ? 'DELETE' : 'POST', '/api/channels/' + encodeURIComponent(cardUser.channel) + '/follow');
      setFollow(!on);
    } catch (e) { cardStatus.textContent = e.message; cardStatus.className = 'error'; }
  });
  async function sanction(path, method, body, done) {
    try {
      await api(method, '/api/channels/' + encodeURIComponent(slug) + path, body);
      const name = cardUser.name;
      await openCard(name);
      cardStatus.textContent = done ? t(done, { name }) : '';
      cardStatus.className = 'ok';
    } catch (e) { cardStatus.textContent = e.message; cardStatus.className = 'error'; }
  }
  document.getElementById('chat-card-mute').addEventListener('click', () => sanction('/mutes', 'POST',
    { username: cardUser.name, minutes: Number(document.getElementById('chat-card-minutes').value), reason: t('chat.card_mute_reason') }, 'chat.card_muted'));
  document.getElementById('chat-card-unmute').addEventListener('click', () => sanction('/mutes/' + encodeURIComponent(cardUser.name), 'DELETE', undefined, ''));
  document.getElementById('chat-card-ban').addEventListener('click', () => {
    if (!confirm(t('chat.card_ban_confirm', { name: cardUser.name }))) return;
    sanction('/bans', 'POST', { username: cardUser.name, minutes: 0, reason: t('chat.card_mute_reason') }, 'chat.card_banned');
  });
  document.getElementById('chat-card-close').addEventListener('click', () => card.close());

  // The viewer list (moderators).
  const viewersBtn = document.getElementById('chat-viewers-button');
  const viewersDlg = document.getElementById('chat-viewers');
  viewersBtn.addEventListener('click', async () => {
    let v;
    try { v = await api('GET', '/api/channels/' + encodeURIComponent(slug) + '/viewers'); } catch (e) {
      status.textContent = e.message; status.className = 'error'; return;
    }
    const ul = document.getElementById('chat-viewers-list');
    ul.textContent = '';
    for (const x of v.viewers) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'name';
      b.textContent = x.name;
      b.addEventListener('click', () => { viewersDlg.close(); openCard(x.name); });
      const lv = document.createElement('span');
      lv.className = 'lv';
      lv.textContent = t('chat.level', { n: x.level });
      li.append(lv, b);
      ul.appendChild(li);
    }
    document.getElementById('chat-viewers-anon').textContent = v.viewers.length
      ? (v.anonymous ? t('chat.viewers_anonymous', { n: v.anonymous }) : '')
      : t('chat.viewers_none') + (v.anonymous ? ' ' + t('chat.viewers_anonymous', { n: v.anonymous }) : '');
    viewersDlg.showModal();
    document.getElementById('chat-viewers-close').focus();
  });
  document.getElementById('chat-viewers-close').addEventListener('click', () => viewersDlg.close());

  // Gifts: one panel line per sender and gift, growing "×N" while the same
  // gift keeps coming within 5 s (a combo); an animation scaled by tier.
  const giftLayer = document.getElementById('gift-layer');
  const seenGifts = new Set();
  const combos = new Map();
  function onGift(g, live) {
    if (seenGifts.has(g.gift_id)) return; // the outbox is at-least-once
    seenGifts.add(g.gift_id);
    const key = g.sender_id + '/' + g.gift;
    let c = combos.get(key);
    const now = Date.now();
    const wasAtEnd = atEnd();
    if (!c || now - c.at > 5000) {
      const li = document.createElement('li');
      li.className = 'gift';
      list.appendChild(li);
      c = { li: li, n: 0 };
      combos.set(key, c);
    }
    c.n += g.count;
    c.at = now;
    c.li.dataset.giftId = g.gift_id;
    c.li.textContent = t('chat.gift', { name: g.sender, gift: giftName(g.gift, g.name), icon: g.icon, n: c.n });
    follow(wasAtEnd);
    if (!live || document.hidden) return;
    const pop = document.createElement('div');
    pop.className = 'gift-pop tier' + g.tier;
    pop.textContent = g.icon;
    giftLayer.appendChild(pop);
    setTimeout(() => pop.remove(), 2600);
    if (g.tier >= 3) {
      const banner = document.createElement('div');
      banner.className = 'gift-banner';
      banner.textContent = t('chat.gift_banner', { name: g.sender, gift: giftName(g.gift, g.name), n: c.n });
      giftLayer.appendChild(banner);
      setTimeout(() => banner.remove(), 4100);
    }
  }

  const balance = document.getElementById('balance');
  const gstatus = document.getElementById('gift-status');
  function showError(msg) { tell(gstatus, msg, 'error'); }
  const num = (n) => Number(n).toLocaleString(document.documentElement.lang || 'en');

  // How many of a gift one tap sends: a preset or a number the viewer types.
  let giftCount = 1;
  let shownTotal = null; // the gift whose total the line shows, kept current
  const countBox = document.getElementById('gift-count');
  const customCount = document.getElementById('gift-count-custom');
  const relabels = [];
  function setCount(n) {
    giftCount = n;
    for (const b of countBox.querySelectorAll('button[data-count]')) b.setAttribute('aria-pressed', String(Number(b.dataset.count) === n && customCount.value === ''));
    for (const f of relabels) f();
    if (shownTotal) shownTotal();
  }
  // readCount: the count to send, or 0 after saying why the typed one is wrong.
  function readCount() {
    if (customCount.value === '') return giftCount;
    const n = Number(customCount.value);
    if (!Number.isInteger(n) || n < 1 || n > 9999) {
      customCount.setAttribute('aria-invalid', 'true');
      showError(t('gift.count_bad'));
      customCount.focus();
      return 0;
    }
    customCount.removeAttribute('aria-invalid');
    return n;
  }
  countBox.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-count]');
    if (!b) return;
    customCount.value = '';
    customCount.removeAttribute('aria-invalid');
    setCount(Number(b.dataset.count));
  });
  customCount.addEventListener('input', () => {
    const n = Number(customCount.value);
    if (customCount.value !== '' && Number.isInteger(n) && n >= 1 && n <= 9999) {
      customCount.removeAttribute('aria-invalid');
      gstatus.textContent = '';
      setCount(n);
    } else if (customCount.value !== '') {
      customCount.setAttribute('aria-invalid', 'true');
      showError(t('gift.count_bad'));
    } else setCount(1);
  });

  // Confirmation above a threshold the viewer chooses (kept in this browser).
  const thresholdSel = document.getElementById('gift-confirm-threshold');
  const stored = localStorage.getItem('lh_gift_confirm');
  thresholdSel.value = stored !== null && [...thresholdSel.options].some((o) => o.value === stored) ? stored : '1000';
  thresholdSel.addEventListener('change', () => localStorage.setItem('lh_gift_confirm', thresholdSel.value));
  const needsConfirm = (total) => thresholdSel.value !== 'never' && total > Number(thresholdSel.value);
  const dialog = document.getElementById('gift-confirm');
  // confirmSend opens the dialog (focus on Cancel, Esc cancels) and
  // resolves true only for the Send button.
  function confirmSend(text) {
    document.getElementById('gift-confirm-text').textContent = text;
    const back = document.activeElement;
    return new Promise((resolve) => {
      const ok = document.getElementById('gift-confirm-ok');
      const cancel = document.getElementById('gift-confirm-cancel');
      const done = (yes) => {
        ok.removeEventListener('click', onOk);
        cancel.removeEventListener('click', onCancel);
        dialog.removeEventListener('close', onClose);
        if (dialog.open) dialog.close();
        if (back && back.focus) back.focus();
        resolve(yes);
      };
      const onOk = () => done(true);
      const onCancel = () => done(false);
      const onClose = () => done(false); // Esc
      ok.addEventListener('click', onOk);
      cancel.addEventListener('click', onCancel);
      dialog.addEventListener('close', onClose);
      dialog.showModal();
      cancel.focus();
    });
  }

  // One idempotency key per viewer action: a send that failed without an
  // answer (the network) is retried with the same key when the viewer taps
  // the same gift and count again, so it can never be charged twice.
  let unanswered = null;
  const totalEl = document.getElementById('gift-total');
  const comboBtn = document.getElementById('gift-combo');
  let combo = null; // {g, n, times, label}
  let sending = false;

  async function send(g, n, label, fromCombo) {
    if (sending) return;
    const price = g.trial ? 0 : g.price;
    const total = price * n;
    const bal = Number(balance.dataset.value || balance.textContent);
    const name = giftName(g.id, g.name);
    if (total > bal) { showError(t('gift.too_dear', { gift: name, n, total: num(total), balance: num(bal) })); return; }
    if (total > 0 && needsConfirm(total)) {
      if (!await confirmSend(t('gift.confirm_text', { icon: g.icon, gift: name, n, total: num(total), balance: num(bal) }))) {
        tell(gstatus, t('gift.cancelled'), 'ok');
        return;
      }
    }
    const same = unanswered && unanswered.gift === g.id && unanswered.n === n && unanswered.price === g.price;
    const key = same ? unanswered.key : newKey();
    unanswered = { gift: g.id, n, price: g.price, key };
    sending = true;
    try {
      // The price shown is the price charged: if it changed meanwhile,
      // nothing is charged and the viewer sees the new one first.
      const data = await api('POST', '/api/gifts', { room: slug, gift: g.id, count: n, idempotency_key: key, price: g.price });
      unanswered = null;
      setBalance(data.balance);
      tell(gstatus, t('gift.sent', { gift: name, n, total: num(total) }), 'ok');
      if (g.trial) { label.button.remove(); comboBtn.hidden = true; combo = null; } else {
        combo = combo && combo.g === g && combo.n === n && fromCombo ? { ...combo, times: combo.times + 1 } : { g, n, times: 1, label };
        comboBtn.textContent = t('gift.combo', { icon: g.icon, name, n, combo: combo.times });
        comboBtn.dataset.gift = g.id;
        comboBtn.dataset.count = String(n);
        comboBtn.dataset.combo = String(combo.times);
        comboBtn.hidden = false;
      }
      loadFans();
    } catch (e) {
      if (e instanceof APIError) unanswered = null; // answered: a new tap is a new action
      if (e.code === 'price_changed') {
        g.price = e.data.price;
        for (const f of relabels) f();
        showError(t('gift.price_changed', { gift: name, price: e.data.price }));
      } else showError(e.message);
    } finally { sending = false; }
  }
  comboBtn.addEventListener('click', () => { if (combo) send(combo.g, combo.n, combo.label, true); });
  function setBalance(v) {
    balance.dataset.value = String(v);
    balance.textContent = v;
    for (const f of relabels) f();
    if (shownTotal) shownTotal();
  }

  async function loadGifts() {
    const bar = document.getElementById('gift-bar');
    try {
      const [cat, wallet] = await Promise.all([
        api('GET', '/api/gifts/catalog?room=' + encodeURIComponent(slug)),
        api('GET', '/api/wallet'),
      ]);
      setBalance(wallet.balance);
      const trials = new Set(cat.trials_available || []);
      const listEl = document.getElementById('gift-list');
      for (const g of cat.gifts) {
        if (g.trial && !trials.has(g.id)) continue; // free once, for viewers who have topped up
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.gift = g.id;
        const name = giftName(g.id, g.name);
        // A trial gift is one free gift: it ignores the count.
        const n = () => (g.trial ? 1 : giftCount);
        const label = () => {
          const total = g.price * n();
          b.textContent = g.trial ? t('gift.button_free', { icon: g.icon, name, price: g.price })
            : n() === 1 ? t('gift.button', { icon: g.icon, name, price: g.price })
              : t('gift.button_count', { icon: g.icon, name, n: n(), total: num(total) });
          b.classList.toggle('too-dear', !g.trial && total > Number(balance.dataset.value || 0));
        };
        const showTotal = () => {
          shownTotal = showTotal;
          if (g.trial) { totalEl.textContent = ''; return; }
          totalEl.textContent = t('gift.total', { gift: name, n: n(), total: num(g.price * n()), balance: num(balance.dataset.value || 0) });
        };
        relabels.push(label);
        label();
        if (g.trial) b.className = 'trial';
        b.addEventListener('pointerenter', showTotal);
        b.addEventListener('focus', showTotal);
        b.addEventListener('click', () => {
          const count = g.trial ? 1 : readCount();
          if (count === 0) return;
          showTotal();
          send(g, count, { button: b }, false);
        });
        listEl.appendChild(b);
      }
      bar.hidden = false;
      loadFans();
    } catch (e) { /* no wallet: stay hidden */ }
  }

  // Memberships and the viewer's fan medal in this channel.
  const tierNames = {};
  async function loadFans() {
    let f;
    try { f = await api('GET', '/api/channels/' + encodeURIComponent(slug) + '/fans'); } catch (e) { return; }
    for (const tier of f.tiers) tierNames[tier.tier] = tierName(tier.name);
    const medal = document.getElementById('my-medal');
    medal.textContent = f.medal
      ? t('fan.medal', { name: f.medal.name, level: f.medal.level, intimacy: f.medal.intimacy, next: f.medal.next_level_at || f.medal.intimacy })
      : t('fan.no_medal', { name: f.medal_name });
    const mem = document.getElementById('my-membership');
    mem.textContent = f.membership && f.membership.active
      ? t(f.membership.auto_renew ? 'fan.member_renews' : 'fan.member_until', { tier: tierName(f.membership.name), date: new Date(f.membership.expires_at).toLocaleDateString(document.documentElement.lang) })
      : '';
    // A price rise stopped the renewal: say so, and tick the box so that
    // buying at the new price (shown on the buttons) renews again.
    const stopped = f.membership && f.membership.renewal_stopped;
    const note = document.getElementById('renewal-note');
    const held = f.membership && f.tiers.find((x) => x.tier === f.membership.tier);
    renewPrice = held ? held.monthly_price : undefined;
    heldTier = held ? tierName(held.name) : '';
    note.hidden = !stopped;
    note.textContent = stopped ? t('fan.renewal_stopped', { tier: tierName(f.membership.name), old: f.membership.monthly_price, price: renewPrice }) : '';
    autoRenew.checked = !!(f.membership && (f.membership.auto_renew || stopped));
    const buttons = document.getElementById('tier-buttons');
    buttons.innerHTML = '';
    for (const tier of f.tiers) {
      if (f.membership && f.membership.active && f.membership.tier > tier.tier) continue;
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.tier = tier.tier;
      const renew = f.membership && f.membership.active && f.membership.tier === tier.tier;
      b.textContent = t(renew ? 'fan.renew' : 'fan.join', { tier: tierName(tier.name), price: tier.monthly_price });
      b.addEventListener('click', async () => {
        try {
          const data = await api('POST', '/api/channels/' + encodeURIComponent(slug) + '/membership',
            { tier: tier.tier, months: 1, idempotency_key: newKey(), auto_renew: autoRenew.checked, price: tier.monthly_price });
          setBalance(data.balance);
          gstatus.textContent = '';
          loadFans();
        } catch (e) {
          if (e.code === 'price_changed') {
            await loadFans(); // the buttons show the new price
            showError(t('fan.price_changed', { tier: tierName(tier.name), price: e.data.price }));
          } else showError(e.message);
        }
      });
      buttons.appendChild(b);
    }
  }

  // Renewal: for an active membership the box switches it at once; before
  // joining it says how the membership will be bought.
  // Switching it on agrees to renewals at the tier's price shown on its
  // button (renewPrice), which may be above what was last paid.
  const autoRenew = document.getElementById('auto-renew');
  let renewPrice, heldTier = '';
  autoRenew.addEventListener('change', async () => {
    try {
      await api('PUT', '/api/channels/' + encodeURIComponent(slug) + '/membership', { auto_renew: autoRenew.checked, price: renewPrice });
      gstatus.textContent = '';
      loadFans();
    } catch (e) {
      if (e.code === 'price_changed') {
        await loadFans();
        showError(t('fan.price_changed', { tier: heldTier, price: e.data.price }));
      } else if (e.code !== 'no_membership') showError(e.message);
    }
  });

  const seenMemberships = new Set();
  function onMembership(e, live) {
    if (seenMemberships.has(e.purchase_id)) return;
    seenMemberships.add(e.purchase_id);
    tierNames[e.tier] = tierName(e.tier_name);
    const li = document.createElement('li');
    li.className = 'notice membership';
    li.textContent = t(e.months > 1 ? 'chat.membership_months' : 'chat.membership', { name: e.user, tier: tierName(e.tier_name), n: e.months });
    const wasAtEnd = atEnd();
    list.appendChild(li);
    follow(wasAtEnd);
    if (live) {
      const banner = document.createElement('div');
      banner.className = 'gift-banner';
      banner.textContent = '⚓ ' + li.textContent;
      giftLayer.appendChild(banner);
      setTimeout(() => banner.remove(), 4100);
    }
  }

  // Taps are summed locally and reported at most once a second.
  let taps = 0;
  document.getElementById('like-button').addEventListener('click', () => {
    if (!me) { location.href = '/login?next=' + encodeURIComponent(location.pathname); return; }
    taps++;
    likeCount.textContent = Number(likeCount.textContent) + 1;
  });
  setInterval(() => {
    if (taps > 0 && conn && conn.send({ type: 'like', count: Math.min(taps, 50) })) taps = 0;
  }, 1000);
  document.getElementById('share-button').addEventListener('click', async () => {
    const url = location.href;
    try {
      if (navigator.share) await navigator.share({ url: url, title: document.title });
      else await navigator.clipboard.writeText(url);
    } catch (e) { return; } // cancelled
    if (me) api('POST', '/api/rooms/' + encodeURIComponent(slug) + '/shares').catch(() => {});
  });

  loadMe().then(connect);
})();
