// The studio: a streamer's channels, and for one channel its stream setup
// (OBS server and key), live preview and numbers, settings and cover, and
// the room's moderation (messages, mutes, bans, rules, moderators).
(function () {
  'use strict';
  const { $, t, api, say, navUser, room, button, row, fmtTime, fmtDuration, fmtNumber } = window.Livehouse;
  const keyStore = (slug) => 'lh-key-' + slug; // a key is shown once by the server; this tab keeps it

  async function listPage() {
    const me = await navUser();
    if (!me) { location.href = '/login?next=/studio'; return; }
    const data = await api('GET', '/api/me/channels');
    const list = $('my-channels');
    for (const c of data.channels) {
      const li = document.createElement('li');
      li.className = 'card-item' + (c.live ? ' live' : '');
      const a = document.createElement('a');
      a.href = '/studio/' + encodeURIComponent(c.slug);
      a.dataset.slug = c.slug;
      a.textContent = c.title + (c.live ? ' · ' + t('watch.live_badge') : '');
      li.appendChild(a);
      list.appendChild(li);
    }
    $('no-channels').hidden = data.channels.length > 0;
    $('create-section').hidden = !data.can_create;
    $('cannot-create').hidden = data.can_create;
    $('create-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const c = await api('POST', '/api/channels', { slug: $('create-slug').value.trim(), title: $('create-title').value.trim() });
        sessionStorage.setItem(keyStore(c.slug), c.stream_key);
        location.href = '/studio/' + encodeURIComponent(c.slug);
      } catch (e) { say($('status'), e.message, true); }
    });
  }

  async function channelPage(slug) {
    const me = await navUser();
    if (!me) { location.href = '/login?next=' + encodeURIComponent(location.pathname); return; }
    const base = '/api/channels/' + encodeURIComponent(slug);
    const status = $('status');

    // Stream setup: the server URL, and the key while this tab knows it.
    const ingest = await api('GET', '/api/ingest');
    $('ingest-url').value = ingest.rtmp_url;
    $('whip-url').value = location.origin + '/whip/' + encodeURIComponent(slug);
    $('srt-row').hidden = $('srt-hint').hidden = !ingest.srt_url;
    $('rtmps-row').hidden = $('rtmps-hint').hidden = !ingest.rtmps_url;
    if (ingest.rtmps_url) $('rtmps-url').value = ingest.rtmps_url;
    const keyInput = $('stream-key');
    function showKnownKey() {
      const k = sessionStorage.getItem(keyStore(slug));
      // SRT carries the key in the URL: shown whole only while this tab knows it.
      if (ingest.srt_url) $('srt-url').value = ingest.srt_url + (k || 'STREAM_KEY');
      keyInput.value = k || '';
      $('key-status').textContent = k ? '' : t('studio.key_hidden');
      $('copy-key').disabled = !k;
      $('show-key').disabled = !k;
    }
    showKnownKey();
    $('show-key').addEventListener('click', () => {
      keyInput.type = keyInput.type === 'password' ? 'text' : 'password';
      $('show-key').textContent = keyInput.type === 'password' ? t('studio.show_key') : t('studio.hide_key');
    });
    async function copy(text, what) {
      try { await navigator.clipboard.writeText(text); } catch (e) { /* no clipboard permission: the field stays selectable */ }
      say($('key-status'), t('studio.copied', { what }));
    }
    $('copy-server').addEventListener('click', () => copy($('ingest-url').value, t('studio.server')));
    $('copy-key').addEventListener('click', () => copy(keyInput.value, t('studio.key')));
    $('reset-key').addEventListener('click', async () => {
      if (!confirm(t('studio.reset_confirm'))) return;
      try {
        const r = await api('POST', base + '/stream-key');
        sessionStorage.setItem(keyStore(slug), r.stream_key);
        showKnownKey();
        keyInput.type = 'text';
        say($('key-status'), t('studio.key_reset'));
      } catch (e) { say($('key-status'), e.message, true); }
    });

    // Backup stream key (backup ingest): shown once when made, kept by this tab.
    const backupStore = 'lh-backup-key-' + slug;
    function showBackupKey() {
      const k = sessionStorage.getItem(backupStore);
      $('backup-key').value = k || '';
      $('copy-backup-key').disabled = !k;
      $('backup-key-status').textContent = k ? '' : t('backup.key_hidden');
    }
    showBackupKey();
    $('copy-backup-key').addEventListener('click', async () => {
      try { await navigator.clipboard.writeText($('backup-key').value); } catch (e) { /* the field stays selectable */ }
      say($('backup-key-status'), t('studio.copied', { what: t('backup.key') }));
    });
    $('new-backup-key').addEventListener('click', async () => {
      if ($('backup-key').value && !confirm(t('backup.confirm'))) return;
      try {
        const r = await api('POST', base + '/backup-key');
        sessionStorage.setItem(backupStore, r.backup_key);
        showBackupKey();
        say($('backup-key-status'), t('backup.key_made'));
      } catch (e) { say($('backup-key-status'), e.message, true); }
    });

    // Settings and cover.
    const ch = await api('GET', base);
    $('set-title').value = ch.title;
    $('set-category').value = ch.category;
    $('set-tags').value = (ch.tags || []).join(', ');
    function showCover(url) { if (url) { $('cover-img').src = url; $('cover-img').hidden = false; } }
    showCover(ch.cover_url);
    $('settings-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const tags = $('set-tags').value.split(',').map((s) => s.trim()).filter(Boolean);
      try {
        const c = await api('PATCH', base, { title: $('set-title').value.trim(), category: $('set-category').value.trim(), tags });
        $('studio-title').textContent = c.title;
        say($('settings-status'), t('form.saved'));
      } catch (e) { say($('settings-status'), e.message, true); }
    });
    $('cover-file').addEventListener('change', async () => {
      const f = $('cover-file').files[0];
      if (!f) return;
      const res = await fetch(base + '/cover', {
        method: 'PUT', body: f, credentials: 'same-origin',
        headers: { 'Content-Type': f.type, 'X-CSRF-Token': window.Livehouse.cookie('lh_csrf') },
      });
      const data = await res.json().catch(() => ({}));
      if (res.ok) { showCover(data.cover_url); say($('settings-status'), t('form.saved')); } else say($('settings-status'), data.error || res.status, true);
    });

    // Live preview and numbers.
    let hls = null;
    const video = $('preview');
    function preview(live) {
      $('preview-offline').hidden = live;
      if (live && !hls && window.Hls && Hls.isSupported()) {
        hls = new Hls({ lowLatencyMode: true });
        hls.loadSource('/hls/' + encodeURIComponent(slug) + '/index.m3u8?via=page');
        hls.attachMedia(video);
        video.play().catch(() => {});
      } else if (!live && hls) {
        hls.destroy();
        hls = null;
      }
    }
    async function stats() {
      try {
        const s = await api('GET', base + '/stats');
        const badge = $('live-badge');
        badge.textContent = s.live ? t('watch.live_badge') : t('watch.offline_badge');
        badge.className = 'badge ' + (s.live ? 'live' : 'offline');
        $('stat-viewers').textContent = fmtNumber(s.viewers);
        $('stat-online').textContent = fmtNumber(s.online);
        $('stat-dpm').textContent = fmtNumber(s.danmaku_last_minute);
        $('stat-likes').textContent = fmtNumber(s.likes);
        $('stat-gifts').textContent = fmtNumber(s.gifts_today);
        // Moderators get no money figures: the tile is for the owner.
        $('stat-revenue').parentElement.hidden = s.gift_coins_today === undefined;
        $('stat-revenue').textContent = fmtNumber(s.gift_coins_today || 0);
        $('stat-bitrate').textContent = s.live ? t('studio.stats.kbps', { n: s.bitrate_kbps }) : '–';
        $('stat-uptime').textContent = s.live ? fmtDuration(s.uptime_seconds) : '–';
        preview(s.live);
      } catch (e) { say(status, e.message, true); }
    }
    stats();
    setInterval(stats, 2000);

    // Moderation: the room's messages, each with delete, mute and ban.
    const msgs = $('mod-messages');
    async function act(fn, done) {
      try { await fn(); say($('mod-status'), done); } catch (e) { say($('mod-status'), e.message, true); }
    }
    function addMessage(m) {
      const li = document.createElement('li');
      li.dataset.id = m.id;
      li.dataset.user = m.user;
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = t('chat.name', { name: m.user }) + ' ' + m.text;
      li.append(text,
        button(t('studio.delete'), 'mod-delete', () => act(() => api('DELETE', '/api/rooms/' + encodeURIComponent(slug) + '/danmaku/' + m.id), t('studio.deleted'))),
        button(t('studio.mute'), 'mod-mute', () => {
          const minutes = Number(prompt(t('studio.mute_minutes'), '10'));
          if (!minutes) return;
          act(() => api('POST', base + '/mutes', { username: m.user, minutes, reason: t('studio.mute_reason') }), t('studio.muted', { name: m.user }));
        }),
        button(t('studio.ban'), 'mod-ban danger', () => {
          const reason = prompt(t('admin.users.ban_reason'));
          if (!reason) return;
          act(() => api('POST', base + '/bans', { username: m.user, reason }), t('studio.banned', { name: m.user }));
        }));
      msgs.appendChild(li);
      while (msgs.children.length > 100) msgs.firstChild.remove();
      msgs.scrollTop = msgs.scrollHeight;
    }
    room(slug, {
      onEvent(e) {
        if (e.type === 'danmaku') addMessage(e);
        else if (e.type === 'delete') msgs.querySelectorAll('[data-id="' + CSS.escape(e.deleted_id) + '"]').forEach((el) => el.remove());
      },
    });

    // Reports from viewers, and the mutes and bans in force.
    async function loadQueues() {
      const [reports, sanctions] = await Promise.all([api('GET', base + '/reports?status=open'), api('GET', base + '/sanctions')]);
      const rrows = $('report-rows');
      rrows.replaceChildren();
      for (const rep of reports.reports) {
        const resolve = (status) => act(async () => { await api('POST', '/api/reports/' + rep.id, { status }); loadQueues(); }, t('form.saved'));
        row(rrows, [rep.target, rep.reason, rep.reporter], [
          [t('studio.mute'), () => act(async () => {
            await api('POST', base + '/mutes', { username: rep.target, minutes: 10, reason: rep.reason });
            await api('POST', '/api/reports/' + rep.id, { status: 'actioned' });
            loadQueues();
          }, t('studio.muted', { name: rep.target })), 'report-mute'],
          [t('studio.report_done'), () => resolve('actioned'), 'report-done'],
          [t('studio.report_dismiss'), () => resolve('dismissed'), 'report-dismiss'],
        ]).dataset.target = rep.target;
      }
      const srows = $('sanction-rows');
      srows.replaceChildren();
      for (const sc of sanctions.sanctions) {
        row(srows, [sc.username, t('studio.kind_' + sc.kind), sc.expires_at ? fmtTime(sc.expires_at) : t('studio.forever')], [
          [t('studio.lift'), () => act(async () => {
            await api('DELETE', base + '/' + (sc.kind === 'ban' ? 'bans' : 'mutes') + '/' + encodeURIComponent(sc.username));
            loadQueues();
          }, t('studio.lifted', { name: sc.username })), 'lift'],
        ]).dataset.user = sc.username;
      }
    }
    loadQueues().catch((e) => say($('mod-status'), e.message, true));
    setInterval(() => loadQueues().catch(() => {}), 5000);

    // Rules.
    const rules = await api('GET', base + '/rules');
    $('rule-slow').value = rules.slow_mode_seconds;
    $('rule-level').value = rules.min_level;
    $('rule-followers').checked = rules.followers_only;
    $('rule-members').checked = rules.members_only;
    $('rule-medal').checked = rules.medal_only;
    $('rule-medal-level').value = rules.medal_min_level;
    $('rules-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const next = Object.assign({}, rules, {
        slow_mode_seconds: Number($('rule-slow').value), min_level: Number($('rule-level').value),
        followers_only: $('rule-followers').checked, members_only: $('rule-members').checked,
        medal_only: $('rule-medal').checked, medal_min_level: Number($('rule-medal-level').value),
      });
      act(() => api('PUT', base + '/rules', next), t('form.saved'));
    });

    // Moderators.
    async function loadMods() {
      const data = await api('GET', base + '/moderators');
      $('moderators').replaceChildren(...data.moderators.map((u) => {
        const li = document.createElement('li');
        li.textContent = u.username + ' ';
        li.appendChild(button(t('studio.dismiss'), 'mod-dismiss', () => act(async () => {
          await api('DELETE', base + '/moderators/' + encodeURIComponent(u.username));
          loadMods();
        }, t('form.saved'))));
        return li;
      }));
    }
    loadMods().catch(() => {});
    $('mod-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      act(async () => {
        await api('POST', base + '/moderators', { username: $('mod-name').value.trim() });
        $('mod-name').value = '';
        loadMods();
      }, t('studio.appointed'));
    });
  }

  const page = document.querySelector('[data-page]');
  if (page.dataset.page === 'studio-list') listPage();
  else if (page.dataset.page === 'studio') channelPage(page.dataset.slug);
})();
