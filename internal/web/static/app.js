// Account pages: sign-up (with the proof-of-work puzzle), log-in, account
// settings and the admin user list. Plain DOM, no framework; every write
// carries the session's CSRF token from the lh_csrf cookie.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);

  function cookie(name) {
    const m = document.cookie.match('(?:^|; )' + name + '=([^;]*)');
    return m ? decodeURIComponent(m[1]) : '';
  }

  async function api(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    const csrf = cookie('lh_csrf');
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
    return data;
  }

  function say(el, msg, bad) {
    if (!el) return;
    el.textContent = msg;
    el.className = bad ? 'error' : 'ok';
  }

  // Leading zero bits of a hex SHA-256, as the server counts them.
  function zeroBits(hex) {
    let n = 0;
    for (const ch of hex) {
      const v = parseInt(ch, 16);
      if (v === 0) { n += 4; continue; }
      return n + Math.clz32(v) - 28;
    }
    return n;
  }

  async function solve(challenge, difficulty, progress) {
    for (let nonce = 0; ; nonce++) {
      if (zeroBits(sha256(challenge + ':' + nonce)) >= difficulty) return String(nonce);
      if (nonce % 20000 === 0) { progress(nonce); await new Promise((r) => setTimeout(r, 0)); }
    }
  }

  async function navUser() {
    const nav = $('nav-user');
    if (!nav) return null;
    try {
      const me = await api('GET', '/api/me');
      nav.innerHTML = '';
      const a = document.createElement('a');
      a.href = '/account';
      a.textContent = me.username + ' · Lv ' + me.level;
      nav.appendChild(a);
      const links = [['/wallet', 'Wallet']];
      if (me.roles.includes('admin')) links.push(['/admin/users', 'Users'], ['/admin/money', 'Money']);
      for (const [href, text] of links) {
        const l = document.createElement('a');
        l.href = href;
        l.textContent = text;
        nav.appendChild(l);
      }
      return me;
    } catch (e) {
      nav.innerHTML = '<a href="/login">Log in</a> <a href="/signup">Sign up</a>';
      return null;
    }
  }

  const signup = $('signup-form');
  if (signup) signup.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('status');
    $('signup-button').disabled = true;
    try {
      say(status, 'Solving the puzzle…');
      const ch = await api('GET', '/api/challenge?purpose=signup');
      const nonce = await solve(ch.challenge, ch.difficulty, (n) => say(status, 'Solving the puzzle… ' + n + ' tries'));
      say(status, 'Creating your account…');
      await api('POST', '/api/auth/signup', {
        username: $('username').value, password: $('password').value, email: $('email').value,
        challenge: ch.challenge, nonce: nonce,
      });
      location.href = '/account';
    } catch (e) {
      say(status, e.message, true);
      $('signup-button').disabled = false;
    }
  });

  const login = $('login-form');
  if (login) login.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/auth/login', { username: $('username').value, password: $('password').value });
      location.href = '/account';
    } catch (e) {
      say($('status'), e.message, true);
    }
  });

  async function loadTokens() {
    const data = await api('GET', '/api/tokens');
    const box = $('token-scopes');
    if (!box.querySelector('input')) {
      for (const s of data.scopes) {
        const label = document.createElement('label');
        const cb = document.createElement('input');
        cb.type = 'checkbox';
        cb.value = s;
        cb.name = 'scope';
        label.appendChild(cb);
        label.appendChild(document.createTextNode(' ' + s));
        box.appendChild(label);
      }
    }
    const list = $('tokens');
    list.innerHTML = '';
    for (const t of data.tokens) {
      const li = document.createElement('li');
      li.textContent = t.name + ' (' + t.scopes.join(', ') + ') ';
      const b = document.createElement('button');
      b.textContent = 'Revoke';
      b.addEventListener('click', async () => { await api('DELETE', '/api/tokens/' + t.id); loadTokens(); });
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  async function accountPage() {
    const me = await navUser();
    if (!me) { location.href = '/login'; return; }
    $('who').textContent = me.username + ' — level ' + me.level + ' (' + me.xp + ' xp), ' +
      me.roles.join(', ') + ', member for ' + me.account_age_days + ' days';
    await loadTokens();
    $('logout-button').addEventListener('click', async () => {
      await api('POST', '/api/auth/logout');
      location.href = '/login';
    });
    $('password-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/api/me/password', { current_password: $('current-password').value, new_password: $('new-password').value });
        say($('password-status'), 'Password changed. Other devices were logged out.');
      } catch (e) { say($('password-status'), e.message, true); }
    });
    $('token-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const scopes = [...document.querySelectorAll('#token-scopes input:checked')].map((c) => c.value);
      try {
        const t = await api('POST', '/api/tokens', { name: $('token-name').value, scopes });
        $('new-token').textContent = t.token;
        loadTokens();
      } catch (e) { $('new-token').textContent = e.message; }
    });
    $('delete-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!confirm('Delete your account? This cannot be undone.')) return;
      try {
        await api('DELETE', '/api/me', { password: $('delete-password').value });
        location.href = '/';
      } catch (e) { say($('delete-status'), e.message, true); }
    });
  }

  async function adminUsersPage() {
    await navUser();
    const rows = $('user-rows');
    async function load() {
      try {
        const data = await api('GET', '/api/admin/users?q=' + encodeURIComponent($('q').value));
        rows.innerHTML = '';
        for (const u of data.users) {
          const tr = document.createElement('tr');
          const cells = [u.username, String(u.level), u.roles.join(', '), u.platform_banned ? 'banned' : 'ok'];
          for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.appendChild(td); }
          const td = document.createElement('td');
          const stream = document.createElement('button');
          stream.textContent = u.can_stream ? 'Revoke streaming' : 'Grant streaming';
          stream.addEventListener('click', async () => { await api('POST', '/api/admin/users/' + u.id + '/roles', { streamer: !u.can_stream }); load(); });
          const ban = document.createElement('button');
          ban.textContent = u.platform_banned ? 'Unban' : 'Ban';
          ban.addEventListener('click', async () => {
            if (u.platform_banned) await api('DELETE', '/api/admin/users/' + u.id + '/ban');
            else {
              const reason = prompt('Reason for the ban?');
              if (!reason) return;
              await api('POST', '/api/admin/users/' + u.id + '/ban', { reason });
            }
            load();
          });
          td.appendChild(stream);
          td.appendChild(ban);
          tr.appendChild(td);
          rows.appendChild(tr);
        }
        say($('status'), data.users.length + ' users');
      } catch (e) { say($('status'), e.message, true); }
    }
    $('user-search').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
    load();
  }

  // Shared with the other page scripts (money.js), which run after this.
  window.Livehouse = { $, api, say, navUser };

  const page = document.querySelector('[data-page]');
  if (page && page.dataset.page === 'account') accountPage();
  else if (page && page.dataset.page === 'admin-users') adminUsersPage();
  else if (!page || !page.dataset.script) navUser(); // page scripts call it themselves
})();
