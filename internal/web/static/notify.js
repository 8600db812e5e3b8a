// The bell in the nav bar (every page) and the Following list (home and
// watch pages): notifications of a logged-in viewer, live over
// /api/me/notifications/ws, "mark all read", and the switch that turns Web
// Push on for this browser (docs/protocol.md, "Notifications").
(function () {
  'use strict';
  const { $, t, api, me, fmtNumber, lang } = window.Livehouse;

  const bellEl = $('notify-bell');
  let items = [];       // newest first
  let unread = 0;
  let nextBefore = null;
  let loaded = false;
  let panel, badge, list, button, moreBtn, pushBox, pushNote;

  const rtf = (typeof Intl !== 'undefined' && Intl.RelativeTimeFormat) ? new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }) : null;
  function ago(ms) {
    const s = Math.round((ms - Date.now()) / 1000);
    if (!rtf || s > -45) return t('notify.just_now');
    for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]]) {
      if (-s >= size) return rtf.format(Math.round(s / size), unit);
    }
    return rtf.format(s, 'second');
  }

  // text and link of a notification, from its kind and payload.
  function describe(n) {
    const p = n.payload || {};
    const channel = p.title || n.channel || '';
    const href = n.channel ? '/c/' + encodeURIComponent(n.channel) : '/';
    switch (n.kind) {
      case 'live': return { text: t('notify.kind.live', { channel }), sub: n.channel ? '/c/' + n.channel : '', href };
      case 'mention':
      case 'reply':
        return { text: t('notify.kind.' + n.kind, { from: p.from || '', channel: n.channel || '' }), sub: p.excerpt || '',
          href: href + (p.message_id ? '#m' + p.message_id : '') };
      case 'renewal_stopped':
        return { text: t('notify.kind.renewal_stopped', { tier: window.Livehouse.tierName(p.tier_name || ''), channel: n.channel || '' }),
          sub: t('notify.renewal_price', { old: fmtNumber(p.agreed_price || 0), price: fmtNumber(p.price || 0) }), href: '/wallet' };
      case 'renews_soon':
        return { text: t('notify.kind.renews_soon', { channel: n.channel || '', price: fmtNumber(p.price || 0) }),
          sub: p.expires_at ? new Date(p.expires_at).toLocaleString(lang) : '', href: '/wallet' };
      case 'withdrawal_decided':
        return { text: t(p.status === 'approved' ? 'notify.kind.withdrawal_approved' : 'notify.kind.withdrawal_rejected',
          { amount: fmtNumber(p.amount || 0), channel: n.channel || '' }), sub: p.note || '',
          href: n.channel ? '/studio/' + encodeURIComponent(n.channel) + '/money' : '/studio' };
      default: return { text: t('notify.kind.other', { channel }), sub: '', href };
    }
  }

  function render() {
    badge.textContent = unread > 99 ? '99+' : String(unread);
    badge.hidden = unread === 0;
    button.setAttribute('aria-label', unread ? t('notify.bell_unread', { n: unread }) : t('notify.bell'));
    const lis = items.map((n) => {
      const d = describe(n);
      const li = document.createElement('li');
      li.className = 'notify-item' + (n.read ? '' : ' unread');
      li.dataset.kind = n.kind;
      const a = document.createElement('a');
      a.href = d.href;
      const text = document.createElement('span');
      text.className = 'notify-text';
      text.textContent = d.text;
      a.appendChild(text);
      if (d.sub) {
        const sub = document.createElement('span');
        sub.className = 'notify-sub';
        sub.textContent = d.sub;
        a.appendChild(sub);
      }
      const when = document.createElement('time');
      when.dateTime = new Date(n.created_at).toISOString();
      when.textContent = ago(n.created_at);
      a.appendChild(when);
      a.addEventListener('click', () => { if (!n.read) api('POST', '/api/me/notifications/read', { ids: [n.id] }).catch(() => {}); });
      li.appendChild(a);
      return li;
    });
    if (lis.length === 0) {
      const li = document.createElement('li');
      li.className = 'notify-empty hint';
      li.textContent = t('notify.empty');
      lis.push(li);
    }
    list.replaceChildren(...lis);
    moreBtn.hidden = !nextBefore;
  }

  async function load(before) {
    const data = await api('GET', '/api/me/notifications?limit=20' + (before ? '&before=' + before : ''));
    const seen = new Set(items.map((n) => n.id));
    const fresh = data.notifications.filter((n) => !seen.has(n.id));
    items = before ? items.concat(fresh) : fresh.concat(items.filter((n) => !fresh.some((f) => f.id === n.id)));
    items.sort((a, b) => b.id - a.id);
    unread = data.unread;
    if (before || !loaded) nextBefore = data.next_before || null; // a refresh keeps where paging got to
    loaded = true;
    render();
  }

  function connect() {
    let retry = 1000;
    (function open() {
      const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/me/notifications/ws');
      ws.onmessage = (ev) => {
        let f;
        try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (f.type === 'hello') {
          retry = 1000;
          if (f.unread !== unread) load().catch(() => {});
        } else if (f.type === 'notification' && f.notification && !items.some((n) => n.id === f.notification.id)) {
          items.unshift(f.notification);
          unread++;
          render();
          followingRefresh();
        } else if (f.type === 'read') {
          load().catch(() => {});
        }
      };
      ws.onclose = (ev) => {
        if (ev.code === 1008 || ev.code === 4401) return; // not logged in any more
        setTimeout(open, retry);
        retry = Math.min(retry * 2, 30000);
      };
    })();
  }

  // Web Push: feature-detect, explain what is missing, subscribe with the
  // server's VAPID key through /sw.js.
  const b64ToBytes = (s) => {
    const raw = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - s.length % 4) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };
  function pushSupport() {
    if (!window.isSecureContext) return 'insecure';
    if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) return 'unsupported';
    if (Notification.permission === 'denied') return 'denied';
    return '';
  }
  async function pushState() {
    const why = pushSupport();
    const box = pushBox.querySelector('input');
    if (why) {
      box.checked = false;
      box.disabled = true;
      pushNote.textContent = t('notify.push.' + why);
      return;
    }
    const reg = await navigator.serviceWorker.getRegistration('/');
    const sub = reg && await reg.pushManager.getSubscription();
    box.disabled = false;
    box.checked = !!sub;
    pushNote.textContent = t(sub ? 'notify.push.on' : 'notify.push.off');
  }
  async function setPush(on) {
    const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    await navigator.serviceWorker.ready;
    let sub = await reg.pushManager.getSubscription();
    if (on) {
      if (await Notification.requestPermission() !== 'granted') return;
      if (!sub) {
        const { public_key: key } = await api('GET', '/api/push/vapid-public-key');
        sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(key) });
      }
      await api('POST', '/api/me/push-subscriptions', sub.toJSON());
    } else if (sub) {
      await api('DELETE', '/api/me/push-subscriptions', { endpoint: sub.endpoint }).catch(() => {});
      await sub.unsubscribe();
    }
  }

  function build() {
    button = document.createElement('button');
    button.type = 'button';
    button.className = 'bell-button';
    button.setAttribute('aria-haspopup', 'true');
    button.setAttribute('aria-expanded', 'false');
    button.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"/></svg>';
    badge = document.createElement('span');
    badge.className = 'bell-badge';
    badge.id = 'notify-count';
    badge.hidden = true;
    button.appendChild(badge);
    panel = document.createElement('div');
    panel.className = 'bell-panel';
    panel.id = 'notify-panel';
    panel.hidden = true;
    const head = document.createElement('div');
    head.className = 'bell-head';
    const title = document.createElement('strong');
    title.textContent = t('notify.bell');
    const markAll = document.createElement('button');
    markAll.type = 'button';
    markAll.className = 'link-button';
    markAll.id = 'notify-mark-all';
    markAll.textContent = t('notify.mark_all');
    markAll.addEventListener('click', async () => {
      const data = await api('POST', '/api/me/notifications/read', {});
      items.forEach((n) => { n.read = true; });
      unread = data.unread;
      render();
    });
    head.append(title, markAll);
    list = document.createElement('ul');
    list.className = 'bell-list';
    list.id = 'notify-list';
    moreBtn = document.createElement('button');
    moreBtn.type = 'button';
    moreBtn.className = 'link-button';
    moreBtn.textContent = t('notify.more');
    moreBtn.hidden = true;
    moreBtn.addEventListener('click', () => load(nextBefore).catch(() => {}));
    pushBox = document.createElement('label');
    pushBox.className = 'bell-push';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.setAttribute('role', 'switch');
    box.id = 'notify-push';
    pushBox.append(box, ' ' + t('notify.push.label'));
    pushNote = document.createElement('p');
    pushNote.className = 'hint bell-push-note';
    pushNote.id = 'notify-push-note';
    box.addEventListener('change', async () => {
      box.disabled = true;
      try {
        await setPush(box.checked);
      } catch (e) {
        pushNote.textContent = t('notify.push.failed', { why: e.message });
        box.disabled = false;
        return;
      }
      pushState().catch(() => {});
    });
    panel.append(head, list, moreBtn, pushBox, pushNote);
    bellEl.append(button, panel);
    const toggle = (open) => {
      panel.hidden = !open;
      button.setAttribute('aria-expanded', String(open));
      // Narrow screens pin the menu to the window's sides (CSS), just below the bell.
      panel.style.top = getComputedStyle(panel).position === 'fixed' ? Math.round(button.getBoundingClientRect().bottom + 6) + 'px' : '';
      if (open) pushState().catch(() => {});
    };
    button.addEventListener('click', (ev) => { ev.stopPropagation(); toggle(panel.hidden); });
    document.addEventListener('click', (ev) => { if (!panel.hidden && !bellEl.contains(ev.target)) toggle(false); });
    document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !panel.hidden) { toggle(false); button.focus(); } });
    bellEl.hidden = false;
    render();
  }

  // The Following list: followed channels, live first.
  const aside = $('following');
  let followingTimer = null;
  async function following() {
    const data = await api('GET', '/api/me/following');
    const lis = data.channels.map((c) => {
      const li = document.createElement('li');
      li.className = 'following-item' + (c.live ? ' live' : '');
      li.dataset.slug = c.slug;
      const a = document.createElement('a');
      a.href = '/c/' + encodeURIComponent(c.slug);
      const name = document.createElement('span');
      name.className = 'following-name';
      name.textContent = c.title || c.slug;
      const state = document.createElement('span');
      state.className = 'following-state';
      if (c.live) {
        const dot = document.createElement('span');
        dot.className = 'badge live';
        dot.textContent = t('following.live');
        const n = document.createElement('span');
        n.className = 'following-viewers';
        n.textContent = t('following.viewers', { n: fmtNumber(c.viewers) });
        state.append(dot, n);
      } else {
        state.textContent = t('following.offline');
      }
      // The collapsed rail (a watch page on a laptop) shows only this.
      const initial = document.createElement('span');
      initial.className = 'following-initial';
      initial.setAttribute('aria-hidden', 'true');
      initial.textContent = Array.from(name.textContent)[0] || '?';
      a.title = name.textContent + ' · ' + state.textContent;
      a.append(initial, name, state);
      li.appendChild(a);
      return li;
    });
    if (lis.length === 0) {
      const li = document.createElement('li');
      li.className = 'hint';
      li.textContent = t('following.empty');
      lis.push(li);
    }
    $('following-list').replaceChildren(...lis);
    aside.classList.toggle('empty', data.channels.length === 0);
    aside.hidden = false;
  }
  // A notification may mean a channel just went live: look again soon.
  function followingRefresh() {
    if (!aside) return;
    clearTimeout(followingTimer);
    followingTimer = setTimeout(() => following().catch(() => {}), 300);
  }

  me().then((user) => {
    if (!user || !user.username) return; // logged out (or the admin token): no bell, no list
    if (bellEl) {
      build();
      load().catch(() => {});
      connect();
    }
    if (aside) {
      following().catch(() => {});
      setInterval(() => following().catch(() => {}), 30000);
    }
  });
})();
