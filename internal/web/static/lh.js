// The small client library every page loads first: the JSON API (with the
// session's CSRF token on writes), translated messages, the nav bar with
// the language switcher, and the room WebSocket (docs/protocol.md).
// Pages use window.Livehouse; none re-implements these.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);

  const catalogEl = $('lh-messages');
  const messages = catalogEl ? JSON.parse(catalogEl.textContent) : {};
  const lang = document.documentElement.lang || 'en';

  // t('key', {name: value}) fills {name} placeholders; an unknown key shows as itself.
  function t(key, vars) {
    const msg = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    if (!vars) return msg;
    return msg.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  }

  // The platform's built-in gifts and membership tiers have names in the
  // catalogs (data.gift.ID, data.tier.NAME); names owners chose stay as written.
  const giftName = (id, name) => messages['data.gift.' + id] || name;
  const tierName = (name) => messages['data.tier.' + name] || name;

  function cookie(name) {
    const m = document.cookie.match('(?:^|; )' + name + '=([^;]*)');
    return m ? decodeURIComponent(m[1]) : '';
  }

  // An API error: message in the page's language when the server gave a
  // known code (err.CODE in the catalog), else the server's own words.
  // explain turns a refusal ({code, reason, error|message}) into words.
  function explain(data, status) {
    const reason = data && data.reason, code = data && data.code;
    if (reason && messages['err.reason.' + reason]) return t('err.reason.' + reason);
    if (code && messages['err.' + code]) return t('err.' + code);
    return (data && (data.error || data.message)) || ('HTTP ' + status);
  }

  class APIError extends Error {
    constructor(status, data) {
      const code = data && data.code;
      super(explain(data, status));
      this.status = status;
      this.code = code || '';
      this.data = data || {};
    }
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const csrf = cookie('lh_csrf');
    if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
    const res = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (!res.ok) throw new APIError(res.status, data);
    return data;
  }

  function say(el, msg, bad) {
    if (!el) return;
    el.textContent = msg;
    el.className = bad ? 'error' : 'ok';
  }

  // toast shows one short message at a time: a single live region
  // (role=status) whose text a new message replaces, so messages and errors
  // never pile up. It hides itself after a few seconds (errors stay longer)
  // or when clicked. kind: 'ok', 'error' or '' (information).
  const toastEl = document.createElement('div');
  toastEl.id = 'toast';
  toastEl.className = 'toast';
  toastEl.setAttribute('role', 'status');
  document.body.appendChild(toastEl);
  let toastTimer = null;
  function hideToast() {
    clearTimeout(toastTimer);
    toastEl.className = 'toast';
    toastEl.textContent = '';
  }
  function toast(text, kind) {
    clearTimeout(toastTimer);
    if (!text) { hideToast(); return; }
    toastEl.textContent = text;
    toastEl.className = 'toast show' + (kind ? ' ' + kind : '');
    toastEl.dataset.kind = kind || '';
    toastTimer = setTimeout(hideToast, kind === 'error' ? 7000 : 4000);
  }
  toastEl.addEventListener('click', hideToast);

  // localPath returns raw if it is a path on this site, else fallback: where
  // to go after logging in must never be another site. Refused: schemes,
  // "//host", backslashes (browsers read "/\host" as "//host"), control
  // characters (browsers drop tabs and newlines inside URLs), and anything
  // that does not resolve to this origin.
  function localPath(raw, fallback) {
    if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return fallback;
    if (raw[0] !== '/' || raw[1] === '/' || /[\\\u0000-\u001f\u007f]/.test(raw)) return fallback;
    let u;
    try { u = new URL(raw, location.origin); } catch (e) { return fallback; }
    if (u.origin !== location.origin) return fallback;
    return u.pathname + u.search + u.hash;
  }

  const newKey = () => Date.now().toString(36) + Math.random().toString(36).slice(2);

  function fmtDuration(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
    return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(s).padStart(2, '0');
  }
  const fmtTime = (t) => new Date(t).toLocaleString(lang);
  const fmtNumber = (n) => Number(n).toLocaleString(lang);

  function button(label, cls, fn) {
    const b = document.createElement('button');
    b.type = 'button';
    if (cls) b.className = cls;
    b.textContent = label;
    b.addEventListener('click', fn);
    return b;
  }

  // row appends a table row of text cells, then a cell of buttons made
  // from actions ([label, onClick, className]); it returns the row.
  function row(tbody, cells, actions) {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.appendChild(td);
    }
    if (actions) {
      const td = document.createElement('td');
      for (const [label, fn, cls] of actions) td.appendChild(button(label, cls, fn));
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
    return tr;
  }

  function link(href, text) {
    const a = document.createElement('a');
    a.href = href;
    a.textContent = text;
    return a;
  }

  // The nav bar: who is logged in and where they can go.
  let meOnce = null;
  function me() {
    if (!meOnce) meOnce = api('GET', '/api/me').catch(() => null);
    return meOnce;
  }
  async function navUser() {
    const nav = $('nav-user');
    const user = await me();
    if (!nav) return user;
    nav.innerHTML = '';
    if (!user) {
      nav.append(link('/login', t('nav.login')), link('/signup', t('nav.signup')));
      return null;
    }
    nav.append(link('/account', t('nav.account', { name: user.username, level: user.level })), link('/wallet', t('nav.wallet')));
    nav.append(link('/studio', t('nav.studio')));
    if (user.roles.includes('admin')) nav.append(link('/admin', t('nav.admin')));
    return user;
  }

  const picker = $('lang-select');
  if (picker) picker.addEventListener('change', () => {
    document.cookie = 'lh_lang=' + encodeURIComponent(picker.value) + '; path=/; max-age=31536000; samesite=lax';
    location.reload();
  });

  // room joins a room over the WebSocket and reconnects with resume:
  // handlers.onEvent(event, live) for each event (live: false in the join
  // replay), onJoined(frame), onError(frame), onSent(frame), onHeld(frame)
  // (the content filter held the message for review), and
  // onLoginEnded() when the server closed the socket because the login
  // ended (log-out elsewhere, password change, revoked token…), and
  // onAccount(frame) when the account's roles or platform ban changed. Returns
  // {send(frame), close()}.
  function room(slug, handlers) {
    let ws = null;
    let lastId = '';
    let retry = 1000;
    let closed = false;
    let joined = false;
    // Frames sent while the socket (re)connects wait for the join, a few at
    // most: a viewer who types before the room answered is not ignored.
    const waiting = [];
    const h = Object.assign({ onEvent() {}, onJoined() {}, onError() {}, onSent() {}, onHeld() {}, onLoginEnded() {}, onAccount() {} }, handlers);
    function event(e, live) {
      if (e.type === 'danmaku' && (!lastId || BigInt(e.id) > BigInt(lastId))) lastId = e.id;
      h.onEvent(e, live);
    }
    function connect() {
      ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
      let pinger = null;
      ws.onmessage = (ev) => {
        const f = JSON.parse(ev.data);
        if (f.type === 'welcome') {
          ws.send(JSON.stringify(lastId ? { type: 'join', room: slug, after: lastId } : { type: 'join', room: slug }));
          pinger = setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), 30000);
        } else if (f.type === 'joined') {
          retry = 1000;
          joined = true;
          h.onJoined(f);
          f.replay.forEach((e) => event(e, false));
          (f.gifts || []).forEach((e) => event(e, false));
          waiting.splice(0).forEach((w) => ws.send(w));
        } else if (f.type === 'batch') {
          f.events.forEach((e) => event(e, true));
        } else if (f.type === 'error') {
          h.onError(f);
        } else if (f.type === 'sent') {
          h.onSent(f);
        } else if (f.type === 'held') { // pending a moderator's review
          h.onHeld(f);
        } else if (f.type === 'account') { // roles or a platform ban changed
          meOnce = null;
          h.onAccount(f);
        }
      };
      ws.onclose = (ev) => {
        clearInterval(pinger);
        joined = false;
        if (closed || ev.code === 4400 || ev.code === 4404) { closed = true; return; } // the protocol says: do not retry; sends now fail
        let wait = retry;
        if (ev.code === 4401) { // the login ended: carry on as who we are now
          meOnce = null;
          navUser();
          h.onLoginEnded();
          wait = 0;
        } else if (ev.code === 4429) { // too many connections from this address
          h.onError({ code: 'too_many_connections' });
          wait = 30000;
        }
        setTimeout(connect, wait);
        retry = Math.min(retry * 2, 15000);
      };
    }
    connect();
    return {
      send(frame) {
        if (ws && ws.readyState === 1 && joined) {
          ws.send(JSON.stringify(frame));
          return true;
        }
        if (closed || waiting.length >= 5) return false;
        waiting.push(JSON.stringify(frame));
        return true;
      },
      close() { closed = true; if (ws) ws.close(); },
    };
  }

  // WebRTC sessions the WHIP/WHEP way (RFC 9725): the whole offer, ICE
  // candidates included, in one POST; a 201 brings the answer and a
  // Location that ends the session with DELETE. Both the studio's "go live
  // from this browser" (WHIP) and the watch page's low-delay player (WHEP)
  // use these two.
  function iceGathered(pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      const timer = setTimeout(() => done(), ms); // host candidates are enough on most networks
      function done() { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); }
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  // A refusal without a code of its own gets one from its status, so the
  // page can say it in its language (err.CODE).
  const rtcStatusCodes = { 401: 'stream_key_refused', 403: 'stream_key_refused', 404: 'webrtc_unavailable', 409: 'already_live', 429: 'too_fast', 503: 'webrtc_unavailable' };

  // rtcOffer sends pc's offer to url and applies the answer; it returns the
  // session's URL (for rtcEnd). token, when given, is the bearer token.
  async function rtcOffer(pc, url, token) {
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc, 2000);
    const headers = { 'Content-Type': 'application/sdp' };
    if (token) headers.Authorization = 'Bearer ' + token;
    else if (cookie('lh_csrf')) headers['X-CSRF-Token'] = cookie('lh_csrf');
    const res = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp, cache: 'no-store', credentials: token ? 'omit' : 'same-origin' });
    if (res.status !== 201) {
      let data = {};
      try { data = await res.json(); } catch (e) { /* not JSON: the route may not exist */ }
      // A generic code (unauthorized, not_found…) says less than the status does here.
      if (!messages['err.' + data.code] && rtcStatusCodes[res.status]) data.code = rtcStatusCodes[res.status];
      throw new APIError(res.status, data);
    }
    const answer = await res.text();
    const loc = res.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    // After a redirect to the node that ingests, the session is there.
    return loc ? new URL(loc, res.url || new URL(url, location.href)).href : '';
  }

  // rtcEnd ends a session; it also works while the page unloads.
  function rtcEnd(sessionURL, token) {
    if (!sessionURL) return;
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    else if (cookie('lh_csrf')) headers['X-CSRF-Token'] = cookie('lh_csrf');
    fetch(sessionURL, { method: 'DELETE', headers, keepalive: true, credentials: token ? 'omit' : 'same-origin' }).catch(() => {});
  }

  window.Livehouse = { $, t, giftName, tierName, lang, cookie, api, APIError, explain, say, toast, localPath, newKey, fmtDuration, fmtTime, fmtNumber, button, row, link, me, navUser, room, rtcOffer, rtcEnd };
})();
