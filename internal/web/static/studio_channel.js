// The studio's "Schedule & emotes" page: the owner announces upcoming
// streams (date and time in their own time zone, sent as UTC) and uploads
// the channel's emotes (PNG, GIF or WebP; the server checks the image),
// and picks the channel's quality ladder (ABR renditions) mode.
(function () {
  'use strict';
  const { $, t, lang, api, say, navUser, cookie, explain } = window.Livehouse;
  const page = document.querySelector('[data-page="studio-channel"]');
  if (!page) return;
  const slug = page.dataset.slug;
  const base = '/api/channels/' + encodeURIComponent(slug);
  document.querySelectorAll('.tabs a').forEach((a) => {
    if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
  });

  const fmt = new Intl.DateTimeFormat(lang, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });

  // Schedule.
  async function loadSchedule() {
    const data = await api('GET', base + '/schedule');
    const rows = $('sched-rows');
    rows.replaceChildren(...data.schedule.map((e) => {
      const li = document.createElement('li');
      li.dataset.id = e.id;
      const when = document.createElement('time');
      when.dateTime = e.starts_at;
      when.textContent = fmt.format(new Date(e.starts_at));
      const title = document.createElement('span');
      title.className = 'sched-title';
      title.textContent = e.title;
      li.append(when, title);
      if (e.weekly) {
        const w = document.createElement('span');
        w.className = 'schedule-weekly';
        w.textContent = t('schedule.weekly');
        li.appendChild(w);
      }
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'danger sched-delete';
      del.textContent = t('schedule.remove');
      del.setAttribute('aria-label', t('schedule.remove') + ': ' + e.title);
      del.addEventListener('click', async () => {
        try {
          await api('DELETE', base + '/schedule/' + e.id);
          say($('sched-status'), t('schedule.removed'));
          loadSchedule();
        } catch (err) { say($('sched-status'), err.message, true); }
      });
      li.appendChild(del);
      return li;
    }));
    $('sched-empty').hidden = data.schedule.length > 0;
    $('sched-add').disabled = data.schedule.length >= data.max;
    if (data.schedule.length >= data.max) say($('sched-status'), t('err.schedule_full'), true);
  }

  // Tomorrow at 20:00 local time as a starting point.
  const tomorrow = new Date(Date.now() + 86400000);
  const pad = (n) => String(n).padStart(2, '0');
  $('sched-date').value = tomorrow.getFullYear() + '-' + pad(tomorrow.getMonth() + 1) + '-' + pad(tomorrow.getDate());
  $('sched-time').value = '20:00';
  $('schedule-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    // "YYYY-MM-DDTHH:MM" without a zone is the browser's local time.
    const local = new Date($('sched-date').value + 'T' + $('sched-time').value);
    if (isNaN(local.getTime())) { say($('sched-status'), t('err.schedule_past'), true); return; }
    try {
      await api('POST', base + '/schedule', { starts_at: local.toISOString(), title: $('sched-title').value, weekly: $('sched-weekly').checked });
      $('sched-title').value = '';
      say($('sched-status'), t('schedule.added'));
      loadSchedule();
    } catch (err) { say($('sched-status'), err.message, true); }
  });

  // Emotes.
  async function loadEmotes() {
    const data = await api('GET', base + '/emotes');
    $('emote-rows').replaceChildren(...data.emotes.map((e) => {
      const li = document.createElement('li');
      li.dataset.name = e.name;
      const img = document.createElement('img');
      img.className = 'emote-preview';
      img.src = e.url;
      img.alt = ':' + e.name + ':';
      const code = document.createElement('code');
      code.textContent = ':' + e.name + ':';
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'danger emote-delete';
      del.textContent = t('emote.delete');
      del.setAttribute('aria-label', t('emote.delete') + ': ' + e.name);
      del.addEventListener('click', async () => {
        try {
          await api('DELETE', base + '/emotes/' + encodeURIComponent(e.name));
          say($('emote-status'), t('emote.deleted'));
          loadEmotes();
        } catch (err) { say($('emote-status'), err.message, true); }
      });
      li.append(img, code, del);
      return li;
    }));
    $('emote-count').textContent = t('emote.count', { n: data.emotes.length, max: data.max });
  }

  $('emote-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = $('emote-file').files[0];
    if (!f) return;
    const form = new FormData();
    form.append('name', $('emote-name').value.trim());
    form.append('file', f);
    const res = await fetch(base + '/emotes', {
      method: 'POST', body: form, credentials: 'same-origin', headers: { 'X-CSRF-Token': cookie('lh_csrf') },
    });
    const data = await res.json().catch(() => ({}));
    if (res.ok) {
      $('emote-name').value = '';
      $('emote-file').value = '';
      say($('emote-status'), t('emote.uploaded', { name: data.name }));
      loadEmotes();
    } else say($('emote-status'), explain(data, res.status), true);
  });

  // Quality ladder (ABR): the channel's mode, from its next stream.
  const abrSelect = $('abr-mode');
  function showLadder(d) {
    const state = { state: t(d.platform ? 'abr.state_on' : 'abr.state_off') };
    abrSelect.value = d.mode;
    abrSelect.closest('section').dataset.mode = d.mode;
    $('abr-mode-default').textContent = t('abr.mode_default', state);
    const why = $('abr-unavailable');
    why.hidden = d.available;
    why.textContent = d.available ? '' : t(d.reason === 'platform_only' ? 'abr.platform_only' : 'abr.no_ffmpeg', state);
    abrSelect.disabled = !d.available;
    showRungs(d);
  }
  // The rungs the platform offers, as checkboxes: the ones ticked are what
  // the channel's streams get. The last ticked one cannot be unticked.
  const rungBoxes = $('abr-rung-boxes');
  function showRungs(d) {
    const fs = $('abr-rungs');
    fs.hidden = d.offered.length === 0;
    fs.disabled = !d.available;
    rungBoxes.replaceChildren(...d.offered.map((r) => {
      const label = document.createElement('label');
      label.className = 'abr-rung';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = r.name;
      box.checked = d.rungs.includes(r.name);
      const text = document.createElement('span');
      text.textContent = t('abr.rung', { name: r.name, mbps: (r.kbps / 1000).toLocaleString(document.documentElement.lang, { maximumFractionDigits: 1 }) }) +
        (r.profile === 'baseline' ? ' · ' + t('abr.rung_baseline') : '');
      label.append(box, text);
      return label;
    }));
    const boxes = [...rungBoxes.querySelectorAll('input')];
    for (const b of boxes) b.disabled = boxes.filter((x) => x.checked).length === 1 && b.checked;
  }
  rungBoxes.addEventListener('change', async () => {
    const picked = [...rungBoxes.querySelectorAll('input:checked')].map((b) => b.value);
    $('abr-rungs').disabled = true;
    try {
      showLadder(await api('PUT', base + '/ladder', { rungs: picked }));
      const list = new Intl.ListFormat(document.documentElement.lang || 'en', { type: 'conjunction' });
      say($('abr-status'), t('abr.saved_rungs', { rungs: list.format(picked) }));
    } catch (err) {
      say($('abr-status'), err.message, true);
      loadLadder().catch(() => {});
    }
  });
  async function loadLadder() {
    showLadder(await api('GET', base + '/ladder'));
  }
  abrSelect.addEventListener('change', async () => {
    abrSelect.disabled = true;
    try {
      const d = await api('PUT', base + '/ladder', { mode: abrSelect.value });
      showLadder(d);
      say($('abr-status'), t(d.effective ? 'abr.saved_on' : 'abr.saved_off'));
    } catch (err) {
      say($('abr-status'), err.message, true);
      loadLadder().catch(() => { abrSelect.disabled = false; });
    }
  });

  navUser().then((me) => {
    if (!me) { location.href = '/login?next=' + encodeURIComponent(location.pathname); return; }
    loadSchedule().catch((err) => say($('sched-status'), err.message, true));
    loadEmotes().catch((err) => say($('emote-status'), err.message, true));
    loadLadder().catch((err) => say($('abr-status'), err.message, true));
  });
})();
