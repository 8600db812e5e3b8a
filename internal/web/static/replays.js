// Replays of a channel: the list on the watch page (#replays) and the
// studio's Replays tab (rename, hide, delete, the recording switch).
(function () {
  'use strict';
  const { $, t, api, fmtDuration, fmtTime, say, button, link } = window.Livehouse;

  function bytes(n) {
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + ' ' + u[i];
  }
  const titleOf = (r) => r.title || t('replay.untitled', { when: fmtTime(r.started_at) });
  const lengthOf = (r) => fmtDuration(r.duration_ms / 1000) + (r.state === 'recording' ? ' · ' + t('replay.still_recording') : '');

  // Watch page.
  const watch = document.querySelector('main.watch');
  if (watch && $('replays')) {
    api('GET', '/api/channels/' + encodeURIComponent(watch.dataset.slug) + '/replays').then((d) => {
      const list = $('replays-list');
      const shown = d.replays.filter((r) => !r.hidden && r.state === 'ready').slice(0, 12);
      for (const r of shown) {
        const li = document.createElement('li');
        li.append(link('/v/' + r.id, titleOf(r)));
        const meta = document.createElement('span');
        meta.className = 'replay-meta';
        meta.textContent = lengthOf(r) + ' · ' + bytes(r.bytes);
        if (r.members_only) meta.textContent += ' · ' + t('replay.members_only');
        li.append(meta);
        list.append(li);
      }
      $('replays').hidden = shown.length === 0;
    }).catch(() => {});
  }

  // The studio's "mark this moment": a chapter in the recording now.
  const markForm = $('mark-form');
  const studioMain = document.querySelector('main[data-page="studio"]');
  if (markForm && studioMain) {
    markForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const title = $('mark-title').value.trim() || t('replay.mark_default');
      try {
        const d = await api('POST', '/api/channels/' + encodeURIComponent(studioMain.dataset.slug) + '/chapters', { title: title });
        $('mark-title').value = '';
        say($('mark-status'), t('replay.marked', { at: fmtDuration(d.chapter.at_ms / 1000), title: d.chapter.title }));
      } catch (e) {
        say($('mark-status'), e.message, true);
      }
    });
  }

  // Studio's Replays tab.
  const studio = document.querySelector('main[data-page="studio-replays"]');
  if (!studio) return;
  const slug = studio.dataset.slug;
  const status = $('rec-status');
  const box = $('rec-enabled');
  api('GET', '/api/channels/' + encodeURIComponent(slug) + '/recording').then((d) => { box.checked = d.enabled; })
    .catch((e) => say(status, e.message, true));
  box.addEventListener('change', async () => {
    try {
      const d = await api('PUT', '/api/channels/' + encodeURIComponent(slug) + '/recording', { enabled: box.checked });
      say(status, d.enabled ? t('replay.setting_on') : t('replay.setting_off'));
    } catch (e) {
      box.checked = !box.checked;
      say(status, e.message, true);
    }
  });

  async function refresh() {
    const rows = $('replay-rows');
    let d;
    try {
      d = await api('GET', '/api/channels/' + encodeURIComponent(slug) + '/replays');
    } catch (e) {
      say(status, e.message, true);
      return;
    }
    rows.textContent = '';
    $('replay-empty').hidden = d.replays.length > 0;
    for (const r of d.replays) {
      const tr = document.createElement('tr');
      tr.dataset.id = r.id;
      const name = document.createElement('td');
      name.append(link('/v/' + r.id, titleOf(r)));
      if (r.members_only) {
        const tag = document.createElement('span');
        tag.className = 'replay-hidden-tag';
        tag.textContent = t('replay.members_only');
        name.append(' ', tag);
      }
      if (r.hidden) {
        const tag = document.createElement('span');
        tag.className = 'replay-hidden-tag';
        tag.textContent = t('replay.hidden');
        name.append(' ', tag);
      }
      const cells = [fmtTime(r.started_at), lengthOf(r), bytes(r.bytes)].map((text) => {
        const td = document.createElement('td');
        td.textContent = text;
        return td;
      });
      const actions = document.createElement('td');
      actions.className = 'replay-actions';
      actions.append(
        button(t('replay.rename'), 'rename', async () => {
          const v = prompt(t('replay.rename_prompt'), r.title || '');
          if (v === null) return;
          try { await api('PATCH', '/api/replays/' + r.id, { title: v }); refresh(); } catch (e) { say(status, e.message, true); }
        }),
        button(r.members_only ? t('replay.for_everyone') : t('replay.for_members'), 'members', async () => {
          try { await api('PATCH', '/api/replays/' + r.id, { members_only: !r.members_only }); refresh(); } catch (e) { say(status, e.message, true); }
        }),
        button(r.hidden ? t('replay.show') : t('replay.hide'), 'hide', async () => {
          try { await api('PATCH', '/api/replays/' + r.id, { hidden: !r.hidden }); refresh(); } catch (e) { say(status, e.message, true); }
        }),
        button(t('replay.delete'), 'delete danger', async () => {
          if (!confirm(t('replay.delete_confirm'))) return;
          try { await api('DELETE', '/api/replays/' + r.id); refresh(); } catch (e) { say(status, e.message, true); }
        }));
      tr.append(name, ...cells, actions);
      rows.append(tr);
    }
  }
  refresh();
})();
