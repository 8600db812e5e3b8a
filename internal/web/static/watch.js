// Watch page: polls the channel's live state, plays LL-HLS with hls.js (or
// natively on Safari), and shows an offline / ended card otherwise.
(function () {
  'use strict';
  const root = document.getElementById('watch');
  const slug = root.dataset.slug;
  const video = document.getElementById('video');
  const badge = document.getElementById('badge');
  const viewersEl = document.getElementById('viewers');
  const uptimeEl = document.getElementById('uptime');
  const cardTitle = document.getElementById('card-title');
  const cardText = document.getElementById('card-text');
  const titleEl = document.getElementById('title');
  const unmute = document.getElementById('unmute');
  const src = '/hls/' + encodeURIComponent(slug) + '/index.m3u8';

  let hls = null;
  let playing = false;
  let wasLive = false;
  let startedAt = null;

  function setState(state) { document.body.dataset.state = state; }

  function startPlayer() {
    if (playing) return;
    playing = true;
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls({
        lowLatencyMode: true,        // use parts and blocking playlist reload
        backBufferLength: 30,
        maxLiveSyncPlaybackRate: 1.5 // catch up after a stall instead of drifting
      });
      hls.on(Hls.Events.ERROR, function (_, data) {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
        stopPlayer();          // the next poll restarts it if the stream is still live
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;         // Safari plays LL-HLS natively
    }
    video.play().catch(function () {});
    unmute.hidden = !video.muted;
  }

  function stopPlayer() {
    playing = false;
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute('src');
    video.load();
    unmute.hidden = true;
  }

  function fmtUptime(sec) {
    const h = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), s = Math.floor(sec % 60);
    return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(s).padStart(2, '0');
  }

  function render(ch) {
    titleEl.textContent = ch.title;
    document.title = ch.title + ' · Livehouse';
    viewersEl.textContent = ch.viewers + ' watching';
    if (ch.live) {
      startedAt = new Date(ch.started_at);
      badge.textContent = 'LIVE';
      badge.className = 'badge live';
      setState('live');
      wasLive = true;
      startPlayer();
    } else {
      startedAt = null;
      uptimeEl.textContent = '';
      badge.textContent = 'OFFLINE';
      badge.className = 'badge offline';
      if (playing) stopPlayer();
      if (wasLive) {
        setState('ended');
        cardTitle.textContent = 'The stream has ended';
        cardText.textContent = 'Thanks for watching. This page plays again by itself when ' + ch.title + ' goes live.';
      } else {
        setState('offline');
        cardTitle.textContent = ch.title + ' is offline';
      }
    }
  }

  let timer = null;
  async function poll() {
    clearTimeout(timer);
    try {
      const res = await fetch('/api/channels/' + encodeURIComponent(slug), { cache: 'no-store' });
      if (res.ok) render(await res.json());
    } catch (e) { /* network blip: try again on the next tick */ }
    timer = setTimeout(poll, playing ? 5000 : 2000);
  }
  // The room's WebSocket says at once when the stream starts or ends.
  document.addEventListener('livehouse:live', function () { poll(); });

  setInterval(function () {
    if (startedAt) uptimeEl.textContent = 'live for ' + fmtUptime((Date.now() - startedAt.getTime()) / 1000);
  }, 1000);

  // A logged-in viewer earns experience for each minute watched.
  function csrfToken() {
    const m = document.cookie.match('(?:^|; )lh_csrf=([^;]*)');
    return m ? decodeURIComponent(m[1]) : '';
  }
  setInterval(function () {
    const csrf = csrfToken();
    if (!csrf || !playing || video.paused) return;
    fetch('/api/channels/' + encodeURIComponent(slug) + '/heartbeat', {
      method: 'POST', headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin',
    }).catch(function () {});
  }, 60000);

  unmute.addEventListener('click', function () { video.muted = false; unmute.hidden = true; video.play().catch(function () {}); });
  poll();
})();
