// Account pages: sign-up (with the proof-of-work puzzle), log-in, account
// settings and the admin user list.
(function () {
  'use strict';
  const { $, t, api, say, navUser, localPath } = window.Livehouse;

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

  function signupPage() {
    navUser();
    $('signup-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const status = $('status');
      $('signup-button').disabled = true;
      try {
        say(status, t('signup.solving'));
        const ch = await api('GET', '/api/challenge?purpose=signup');
        const nonce = await solve(ch.challenge, ch.difficulty, (n) => say(status, t('signup.solving_tries', { n })));
        say(status, t('signup.creating'));
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
  }

  function loginPage() {
    navUser();
    // Sent here from a page that needs a login: say so (a hostile next is
    // not followed, so it earns no such line).
    $('login-next').hidden = localPath(new URLSearchParams(location.search).get('next'), '') === '';
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/api/auth/login', { username: $('username').value, password: $('password').value });
        location.href = localPath(new URLSearchParams(location.search).get('next'), '/account');
      } catch (e) {
        say($('status'), e.message, true);
      }
    });
  }

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
        label.appendChild(document.createTextNode(' ' + s + ' — ' + t('scope.' + s)));
        box.appendChild(label);
      }
    }
    const list = $('tokens');
    list.innerHTML = '';
    for (const tok of data.tokens) {
      const li = document.createElement('li');
      li.textContent = tok.name + ' (' + tok.scopes.join(', ') + ') ';
      const b = document.createElement('button');
      b.textContent = t('account.revoke');
      b.addEventListener('click', async () => { await api('DELETE', '/api/tokens/' + tok.id); loadTokens(); });
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  async function accountPage() {
    const me = await navUser();
    if (!me) { location.href = '/login'; return; }
    $('who').textContent = t('account.who', {
      name: me.username, level: me.level, xp: me.xp,
      roles: me.roles.map((r) => t('role.' + r)).join(', '), days: me.account_age_days,
    });
    await loadTokens();
    $('logout-button').addEventListener('click', async () => {
      await api('POST', '/api/auth/logout');
      location.href = '/login';
    });
    $('password-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/api/me/password', { current_password: $('current-password').value, new_password: $('new-password').value });
        say($('password-status'), t('account.password_changed'));
        loadTokens().catch(() => {});
      } catch (e) { say($('password-status'), e.message, true); }
    });
    $('token-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const scopes = [...document.querySelectorAll('#token-scopes input:checked')].map((c) => c.value);
      try {
        const tok = await api('POST', '/api/tokens', { name: $('token-name').value, scopes });
        $('new-token').textContent = tok.token;
        loadTokens();
      } catch (e) { $('new-token').textContent = e.message; }
    });
    $('delete-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!confirm(t('account.delete_confirm'))) return;
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
          tr.dataset.user = u.username;
          const cells = [u.username, String(u.level), u.roles.map((r) => t('role.' + r)).join(', '),
            u.platform_banned ? t('admin.users.banned') : t('admin.users.ok')];
          for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.appendChild(td); }
          const td = document.createElement('td');
          const stream = document.createElement('button');
          stream.className = 'stream-toggle';
          stream.textContent = u.can_stream ? t('admin.users.revoke_streaming') : t('admin.users.grant_streaming');
          stream.addEventListener('click', async () => { await api('POST', '/api/admin/users/' + u.id + '/roles', { streamer: !u.can_stream }); load(); });
          const ban = document.createElement('button');
          ban.className = 'ban-toggle' + (u.platform_banned ? '' : ' danger');
          ban.textContent = u.platform_banned ? t('admin.users.unban') : t('admin.users.ban');
          ban.addEventListener('click', async () => {
            if (u.platform_banned) await api('DELETE', '/api/admin/users/' + u.id + '/ban');
            else {
              const reason = prompt(t('admin.users.ban_reason'));
              if (!reason) return;
              await api('POST', '/api/admin/users/' + u.id + '/ban', { reason });
            }
            load();
          });
          td.append(stream, ban);
          tr.appendChild(td);
          rows.appendChild(tr);
        }
        say($('status'), t('admin.users.count', { n: data.users.length }));
      } catch (e) { say($('status'), e.message, true); }
    }
    $('user-search').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
    load();
  }

  const pages = { signup: signupPage, login: loginPage, account: accountPage, 'admin-users': adminUsersPage };
  const page = document.querySelector('[data-page]');
  if (page && pages[page.dataset.page]) pages[page.dataset.page]();
})();
