// The replay page (/v/ID): the recording as HLS VOD under one control
// bar of our own (play, ±10 s, time, volume, speed, fullscreen of video and
// overlay together) and the seek bar with chapters and thumbnails, with
// the room's danmaku replayed over it at the moment they were said (their
// time into the replay, from the room log). Text is always inserted as
// text, never as HTML.
(function () {
  'use strict';
  const { $, t, api, fmtDuration, fmtTime, lang, say } = window.Livehouse;
  const root = document.querySelector('main.replay-page');
  if (!root) return;
  const id = root.dataset.id;
  const video = $('video');
  const layer = $('danmaku-layer');
  const errorEl = $('replay-error');
  const settings = Object.assign({ on: true, density: 1 }, JSON.parse(localStorage.getItem('lh-replay-danmaku') || '{}'));
  // What the overlay showed, for tests and curious people:
  // {id, t (its time in the replay, ms), at (the video's time when shown, ms)}.
  window.__replayShown = [];

  function fail(msg) {
    errorEl.textContent = msg;
    errorEl.hidden = false;
  }

  function bytes(n) {
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + ' ' + u[i];
  }
  window.Livehouse.fmtBytes = window.Livehouse.fmtBytes || bytes;

  // --- overlay ---------------------------------------------------------
  const onBox = $('rdm-on'), densityBox = $('rdm-density'), densityText = $('rdm-density-value');
  onBox.checked = settings.on;
  densityBox.value = settings.density;
  function applySettings() {
    layer.style.opacity = settings.on ? 0.9 : 0;
    densityText.textContent = t('replay.density_value', { n: Math.round(settings.density * 100) });
    localStorage.setItem('lh-replay-danmaku', JSON.stringify(settings));
  }
  onBox.addEventListener('input', () => { settings.on = onBox.checked; applySettings(); });
  densityBox.addEventListener('input', () => { settings.density = Number(densityBox.value); applySettings(); });
  applySettings();

  const size = () => (layer.clientWidth < 500 ? 16 : 22);
  const laneFree = { scroll: [], top: [], bottom: [] };
  function pickLane(mode, now, holdMs) {
    const lineH = size() * 1.3;
    const lanes = Math.max(1, Math.floor(layer.clientHeight * 0.75 / lineH));
    const free = laneFree[mode];
    for (let i = 0; i < lanes; i++) {
      if (!free[i] || free[i] <= now) { free[i] = now + holdMs; return i; }
    }
    return -1;
  }

  // Density thins the overlay by dropping a steady share of messages (the
  // same ones on every viewing): 1 shows all, 0 none.
  function keep(m) {
    if (settings.density >= 1) return true;
    const h = Number(BigInt.asUintN(32, BigInt(m.id) * 2654435761n)) / 4294967296;
    return h < settings.density;
  }

  function fly(m) {
    window.__replayShown.push({ id: String(m.id), t: m.t, at: Math.round(video.currentTime * 1000) });
    if (!settings.on || !keep(m)) return;
    const el = document.createElement('div');
    el.className = 'dm';
    el.dataset.id = m.id;
    el.dataset.t = m.t;
    el.textContent = m.text;
    if (/^#[0-9a-fA-F]{6}$/.test(m.color || '')) el.style.color = m.color;
    el.style.fontSize = size() + 'px';
    el.style.visibility = 'hidden';
    layer.appendChild(el);
    const w = layer.clientWidth, tw = el.offsetWidth, now = performance.now();
    const lineH = size() * 1.3, duration = 8000;
    const mode = m.mode === 'top' || m.mode === 'bottom' ? m.mode : 'scroll';
    const speed = (w + tw) / duration;
    const lane = pickLane(mode, now, mode === 'scroll' ? (tw + 20) / speed : 4000);
    if (lane < 0) { el.remove(); return; }
    el.style.visibility = '';
    let anim;
    if (mode === 'scroll') {
      el.style.top = (lane * lineH) + 'px';
      anim = el.animate([{ transform: 'translateX(' + w + 'px)' }, { transform: 'translateX(' + (-tw) + 'px)' }],
        { duration: duration, easing: 'linear' });
    } else {
      el.style.left = Math.max(0, (w - tw) / 2) + 'px';
      el.style[mode] = (lane * lineH) + 'px';
      anim = el.animate([{ opacity: 1 }, { opacity: 1 }], { duration: 4000 });
    }
    anim.onfinish = () => el.remove();
    if (video.paused) anim.pause();
  }

  function clearOverlay() {
    layer.textContent = '';
    laneFree.scroll = []; laneFree.top = []; laneFree.bottom = [];
  }

  // --- the timeline ----------------------------------------------------
  let messages = [];
  let next = 0; // index of the next message to show
  let last = 0; // video time (ms) the overlay last caught up to
  function seekTo(ms) {
    clearOverlay();
    let lo = 0, hi = messages.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (messages[mid].t < ms) lo = mid + 1; else hi = mid; }
    next = lo;
    last = ms;
  }
  function tick() {
    const now = video.currentTime * 1000;
    if (now < last - 250 || now > last + 1500) {
      seekTo(now); // a seek (or a stall we should not flood after)
    } else if (!video.paused) {
      while (next < messages.length && messages[next].t <= now) fly(messages[next++]);
      last = now;
    }
    requestAnimationFrame(tick);
  }
  video.addEventListener('seeking', () => seekTo(video.currentTime * 1000));
  video.addEventListener('pause', () => layer.getAnimations({ subtree: true }).forEach((a) => a.pause()));
  video.addEventListener('play', () => layer.getAnimations({ subtree: true }).forEach((a) => a.play()));

  // --- the seek bar: progress, chapter marks, thumbnails --------------
  const bar = $('timeline'), fill = $('timeline-fill'), marks = $('timeline-marks');
  const preview = $('timeline-preview'), thumb = $('timeline-thumb'), previewTime = $('timeline-time');
  let chapters = [], thumbs = null;
  const total = () => (isFinite(video.duration) && video.duration > 0 ? video.duration : durationMs / 1000);
  let durationMs = 0;
  function at(ev) {
    const r = bar.getBoundingClientRect();
    return Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)) * total();
  }
  function drawProgress() {
    const d = total();
    fill.style.width = d ? (100 * video.currentTime / d) + '%' : '0';
    bar.setAttribute('aria-valuemax', String(Math.round(d)));
    bar.setAttribute('aria-valuenow', String(Math.round(video.currentTime)));
    bar.setAttribute('aria-valuetext', fmtDuration(video.currentTime) + ' / ' + fmtDuration(d));
  }
  video.addEventListener('timeupdate', drawProgress);
  video.addEventListener('durationchange', () => { drawProgress(); drawMarks(); });
  function drawMarks() {
    marks.textContent = '';
    const d = total();
    if (!d) return;
    for (const c of chapters) {
      const m = document.createElement('span');
      m.className = 'timeline-mark';
      m.style.left = (100 * c.at_ms / 1000 / d) + '%';
      m.title = fmtDuration(c.at_ms / 1000) + ' ' + c.title;
      marks.append(m);
    }
  }
  function chapterAt(sec) {
    let name = '';
    for (const c of chapters) if (c.at_ms / 1000 <= sec) name = c.title;
    return name;
  }
  bar.addEventListener('pointermove', (ev) => {
    const sec = at(ev);
    const r = bar.getBoundingClientRect();
    preview.hidden = false;
    const ch = chapterAt(sec);
    previewTime.textContent = fmtDuration(sec) + (ch ? ' · ' + ch : '');
    if (thumbs) {
      const i = Math.min(thumbs.count - 1, Math.floor(sec * 1000 / thumbs.interval_ms));
      thumb.hidden = false;
      thumb.style.width = thumbs.width + 'px';
      thumb.style.height = thumbs.height + 'px';
      thumb.style.backgroundImage = 'url("' + thumbs.url + '")';
      thumb.style.backgroundPosition = (-(i % thumbs.cols) * thumbs.width) + 'px ' + (-Math.floor(i / thumbs.cols) * thumbs.height) + 'px';
    }
    const w = preview.offsetWidth;
    preview.style.left = Math.min(r.width - w, Math.max(0, ev.clientX - r.left - w / 2)) + 'px';
  });
  bar.addEventListener('pointerleave', () => { preview.hidden = true; });
  bar.addEventListener('click', (ev) => { video.currentTime = at(ev); });
  bar.addEventListener('keydown', (ev) => {
    const step = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 }[ev.key];
    if (step === undefined) return;
    ev.preventDefault();
    video.currentTime = Math.min(total(), Math.max(0, video.currentTime + step));
  });

  function drawChapters(canManage) {
    const list = $('chapter-list');
    list.textContent = '';
    for (const c of chapters) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'chapter-jump';
      b.dataset.at = c.at_ms;
      const time = document.createElement('span');
      time.className = 'chapter-time';
      time.textContent = fmtDuration(c.at_ms / 1000);
      b.append(time, ' ', c.title);
      b.addEventListener('click', () => { video.currentTime = c.at_ms / 1000; video.play().catch(() => {}); });
      li.append(b);
      if (canManage) {
        const del = document.createElement('button');
        del.type = 'button';
        del.className = 'chapter-delete';
        del.textContent = '×';
        del.setAttribute('aria-label', t('replay.chapter_delete', { title: c.title }));
        del.addEventListener('click', async () => {
          try { await api('DELETE', '/api/replays/' + id + '/chapters/' + c.id); await reloadChapters(canManage); } catch (e) { say($('owner-status'), e.message, true); }
        });
        li.append(' ', del);
      }
      list.append(li);
    }
    $('chapters').hidden = chapters.length === 0;
    drawMarks();
  }
  async function reloadChapters(canManage) {
    const info = await api('GET', '/api/replays/' + encodeURIComponent(id));
    chapters = info.chapters || [];
    drawChapters(canManage);
  }

  // mm:ss or h:mm:ss or seconds.
  function parseTime(s) {
    const parts = String(s).trim().split(':').map(Number);
    if (!parts.length || parts.some((n) => !isFinite(n) || n < 0)) return NaN;
    return parts.reduce((acc, n) => acc * 60 + n, 0);
  }
  function ownerTools() {
    $('owner-tools').hidden = false;
    const status = $('owner-status');
    $('chapter-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/api/replays/' + id + '/chapters', { at_ms: Math.round(video.currentTime * 1000), title: $('chapter-title').value });
        $('chapter-title').value = '';
        say(status, t('replay.chapter_added'));
        await reloadChapters(true);
      } catch (e) { say(status, e.message, true); }
    });
    $('clip-from-now').addEventListener('click', () => { $('clip-from').value = fmtDuration(video.currentTime); });
    $('clip-to-now').addEventListener('click', () => { $('clip-to').value = fmtDuration(video.currentTime); });
    $('clip-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const from = parseTime($('clip-from').value), to = parseTime($('clip-to').value);
      if (!(to > from)) { say(status, t('err.replay_clip_invalid'), true); return; }
      try {
        const d = await api('POST', '/api/replays/' + id + '/clip', { from_ms: Math.round(from * 1000), to_ms: Math.round(to * 1000), title: $('clip-title').value });
        status.textContent = '';
        status.className = 'ok';
        status.append(t('replay.clip_made') + ' ');
        const a = document.createElement('a');
        a.href = '/v/' + d.replay.id;
        a.textContent = d.replay.title || t('replay.untitled', { when: fmtTime(d.replay.started_at) });
        status.append(a);
      } catch (e) { say(status, e.message, true); }
    });
  }

  // --- the control bar -------------------------------------------------
  // One bar, ours: the browser's own controls would cover the overlay and
  // take only the video (not the danmaku) to fullscreen.
  const player = $('replay-player');
  const playBtn = $('rb-play'), muteBtn = $('rb-mute'), volume = $('rb-volume');
  const speed = $('rb-speed'), fullBtn = $('rb-full'), timeText = $('rb-time');
  function togglePlay() {
    if (video.paused || video.ended) video.play().catch(() => {});
    else video.pause();
  }
  function showPlay() {
    player.classList.toggle('pc-paused', video.paused);
    playBtn.setAttribute('aria-label', t(video.paused ? 'player.play' : 'player.pause'));
  }
  function jump(by) { video.currentTime = Math.min(total(), Math.max(0, video.currentTime + by)); }
  function showTime() { timeText.textContent = fmtDuration(video.currentTime) + ' / ' + fmtDuration(total()); }
  function showVolume() {
    player.classList.toggle('pc-muted', video.muted || video.volume === 0);
    muteBtn.setAttribute('aria-label', t(video.muted ? 'player.unmute' : 'player.mute'));
    volume.value = String(Math.round((video.muted ? 0 : video.volume) * 100));
    volume.setAttribute('aria-valuetext', volume.value + '%');
  }
  const savedVolume = parseFloat(localStorage.getItem('lh-volume'));
  if (savedVolume >= 0 && savedVolume <= 1) video.volume = savedVolume;
  const savedRate = Number(localStorage.getItem('lh-replay-rate'));
  if ([...speed.options].some((o) => Number(o.value) === savedRate)) speed.value = String(savedRate);
  playBtn.addEventListener('click', togglePlay);
  video.addEventListener('click', togglePlay);
  video.addEventListener('dblclick', () => toggleFull());
  $('rb-back').addEventListener('click', () => jump(-10));
  $('rb-fwd').addEventListener('click', () => jump(10));
  for (const ev of ['play', 'pause', 'ended']) video.addEventListener(ev, showPlay);
  for (const ev of ['timeupdate', 'durationchange', 'seeked']) video.addEventListener(ev, showTime);
  video.addEventListener('volumechange', showVolume);
  muteBtn.addEventListener('click', () => { video.muted = !video.muted; });
  volume.addEventListener('input', () => {
    video.volume = Number(volume.value) / 100;
    video.muted = video.volume === 0;
    localStorage.setItem('lh-volume', String(video.volume));
  });
  // The danmaku keep their pace on the screen; they just come faster.
  function applyRate() { video.playbackRate = Number(speed.value); localStorage.setItem('lh-replay-rate', speed.value); }
  speed.addEventListener('change', applyRate);
  video.addEventListener('loadedmetadata', applyRate);
  function toggleFull() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (player.requestFullscreen) player.requestFullscreen().catch(() => {});
  }
  fullBtn.hidden = !document.fullscreenEnabled;
  fullBtn.addEventListener('click', toggleFull);
  document.addEventListener('fullscreenchange', () => {
    fullBtn.setAttribute('aria-label', t(document.fullscreenElement ? 'player.exit_fullscreen' : 'player.fullscreen'));
  });
  // Keys, as on the watch page, unless the viewer is typing or on a control
  // that uses them itself (the seek bar takes the arrows).
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const el = document.activeElement;
    if (el && (/^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.isContentEditable || el === bar)) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const act = {
      ' ': () => togglePlay(), k: () => togglePlay(), j: () => jump(-10), l: () => jump(10),
      ArrowLeft: () => jump(-5), ArrowRight: () => jump(5), m: () => { video.muted = !video.muted; }, f: () => toggleFull(),
    }[key];
    if (!act || (key === ' ' && el && el.tagName === 'BUTTON')) return;
    ev.preventDefault();
    act();
  });
  showPlay();
  showVolume();

  // --- load ------------------------------------------------------------
  async function load() {
    let info;
    try {
      info = await api('GET', '/api/replays/' + encodeURIComponent(id));
    } catch (e) {
      $('replay-title').textContent = t('replay.not_found');
      fail(e.message);
      return;
    }
    const r = info.replay;
    durationMs = r.duration_ms;
    thumbs = info.thumbnails || null;
    chapters = info.chapters || [];
    drawChapters(info.can_manage);
    if (info.can_manage) ownerTools();
    const title = r.title || t('replay.untitled', { when: fmtTime(r.started_at) });
    $('replay-title').textContent = title;
    document.title = title + ' · Livehouse';
    const ch = $('replay-channel');
    ch.href = '/c/' + encodeURIComponent(r.channel);
    ch.textContent = r.channel;
    $('replay-when').textContent = fmtTime(r.started_at);
    $('replay-duration').textContent = fmtDuration(r.duration_ms / 1000) + ' · ' + bytes(r.bytes);
    if (r.state === 'recording') $('replay-duration').textContent += ' · ' + t('replay.still_recording');
    if (!info.playable) {
      fail(t('err.replay_members_only'));
      root.dataset.ready = '1';
      return;
    }
    try {
      const d = await api('GET', '/api/replays/' + encodeURIComponent(id) + '/danmaku');
      messages = d.messages.filter((m) => m.t >= 0).sort((a, b) => a.t - b.t);
      $('replay-count').textContent = t('replay.danmaku_count', { n: messages.length.toLocaleString(lang) });
    } catch (e) {
      fail(e.message);
    }
    root.dataset.danmaku = String(messages.length);
    const src = info.playlist;
    if (window.Hls && window.Hls.isSupported()) {
      const hls = new window.Hls({ enableWorker: true });
      hls.on(window.Hls.Events.ERROR, (ev, data) => { if (data.fatal) fail(t('replay.play_error')); });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
    } else {
      fail(t('replay.play_error'));
    }
    root.dataset.ready = '1';
    requestAnimationFrame(tick);
  }
  load();
})();
