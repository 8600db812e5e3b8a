// Watch page: polls the channel's live state, plays LL-HLS with hls.js (or
// natively on Safari) or, with "Low delay" on, WebRTC (WHEP), and shows an
// offline / ended card otherwise.
(function () {
  'use strict';
  const { t, api, toast, me, navUser, fmtDuration, fmtNumber, rtcOffer, rtcEnd } = window.Livehouse;
  const root = document.querySelector('main.watch');
  const slug = root.dataset.slug;
  const video = document.getElementById('video');
  const badge = document.getElementById('badge');
  const viewersEl = document.getElementById('viewers');
  const uptimeEl = document.getElementById('uptime');
  const cardTitle = document.getElementById('card-title');
  const cardText = document.getElementById('card-text');
  const titleEl = document.getElementById('title');
  const streamerEl = document.getElementById('streamer');
  const unmute = document.getElementById('unmute');
  const src = '/hls/' + encodeURIComponent(slug) + '/index.m3u8?via=page';

  let hls = null;
  let playing = false;
  let wasLive = false;
  let startedAt = null;

  function setState(state) { document.body.dataset.state = state; }

  // The player is LL-HLS (hls.js, or Safari's own), or with "Low delay" on,
  // WebRTC over WHEP into the same <video>, so the danmaku overlay and the
  // unmute button work the same in both. WHEP that cannot connect or shows
  // no picture within 5 s falls back to LL-HLS with a one-line notice.
  const lowDelay = document.getElementById('low-delay');
  const notice = document.getElementById('player-notice');
  const canWHEP = !!window.RTCPeerConnection;
  let pc = null;
  let whepSession = '';
  let whepTimer = null;
  let fellBack = false; // this play gave up on WHEP: LL-HLS until the next start or toggle

  // The player's controls (player.js) hear which engine now plays.
  function mode(m) {
    root.dataset.player = m;
    document.dispatchEvent(new CustomEvent('livehouse:player', { detail: { mode: m, hls: m === 'hls' ? hls : null } }));
  }

  function startHLS() {
    mode('hls');
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
      mode('hls');
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;         // Safari plays LL-HLS natively
    }
  }

  async function startWHEP() {
    mode('whep');
    const mine = pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    const stream = new MediaStream();
    mine.addTransceiver('video', { direction: 'recvonly' });
    mine.addTransceiver('audio', { direction: 'recvonly' });
    mine.addEventListener('track', function (ev) { stream.addTrack(ev.track); });
    mine.addEventListener('connectionstatechange', function () {
      if (pc !== mine) return;
      const st = mine.connectionState;
      if (st === 'failed') fallBack(t('watch.fail.connection'));
      else if (st === 'disconnected') {
        clearTimeout(whepTimer);
        whepTimer = setTimeout(function () { if (pc === mine && mine.connectionState !== 'connected') fallBack(t('watch.fail.connection')); }, 5000);
      }
    });
    video.srcObject = stream;
    video.play().catch(function () {});
    // Frames or not, five seconds decide.
    let framed = false;
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(function () { framed = true; });
    clearTimeout(whepTimer);
    whepTimer = setTimeout(function () {
      if (pc !== mine) return;
      if (!framed && !(video.videoWidth > 0 && video.currentTime > 0)) fallBack(t('watch.fail.no_frames'));
    }, 5000);
    try {
      const loc = await rtcOffer(mine, '/whep/' + encodeURIComponent(slug));
      if (pc !== mine) { rtcEnd(loc); return; } // switched away meanwhile
      whepSession = loc;
    } catch (e) {
      if (pc === mine) fallBack(e.message);
    }
  }

  function stopWHEP() {
    clearTimeout(whepTimer);
    if (whepSession) rtcEnd(whepSession);
    whepSession = '';
    if (pc) { const old = pc; pc = null; old.close(); }
    if (video.srcObject) { video.srcObject = null; }
  }

  function fallBack(reason) {
    stopWHEP();
    fellBack = true;
    say(t('watch.low_delay_fallback', { reason: reason }));
    if (playing) { startHLS(); video.play().catch(function () {}); }
  }

  let noticeTimer = null;
  function say(text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 10000);
  }

  function startPlayer() {
    if (playing) return;
    playing = true;
    if (lowDelay.checked && canWHEP && !fellBack) startWHEP();
    else startHLS();
    video.play().catch(function () {});
    unmute.hidden = !video.muted;
  }

  function stopPlayer() {
    playing = false;
    stopWHEP();
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute('src');
    video.load();
    mode('off');
    unmute.hidden = true;
  }

  // The switch is remembered in this browser; flipping it while playing
  // restarts the player in the other mode.
  lowDelay.checked = localStorage.getItem('lh-low-delay') === '1';
  document.getElementById('player-bar').hidden = !canWHEP; // no WebRTC here: LL-HLS is all there is
  lowDelay.addEventListener('change', function () {
    localStorage.setItem('lh-low-delay', lowDelay.checked ? '1' : '0');
    fellBack = false;
    if (playing) { stopPlayer(); startPlayer(); }
  });
  window.addEventListener('pagehide', stopWHEP);

  function render(ch) {
    titleEl.textContent = ch.title;
    document.title = ch.title + ' · Livehouse';
    viewersEl.textContent = t('watch.viewers', { n: fmtNumber(ch.viewers) });
    if (ch.owner) streamerEl.textContent = t('watch.by', { name: ch.owner });
    if (ch.live) {
      startedAt = new Date(ch.started_at);
      badge.textContent = t('watch.live_badge');
      badge.className = 'badge live';
      setState('live');
      wasLive = true;
      startPlayer();
    } else {
      startedAt = null;
      uptimeEl.textContent = '';
      badge.textContent = t('watch.offline_badge');
      badge.className = 'badge offline';
      if (playing) stopPlayer();
      fellBack = false;
      if (wasLive) {
        setState('ended');
        cardTitle.textContent = t('watch.ended');
        cardText.textContent = t('watch.ended_text', { title: ch.title });
      } else {
        setState('offline');
        cardTitle.textContent = t('watch.offline', { title: ch.title });
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
    if (startedAt) uptimeEl.textContent = t('watch.uptime', { d: fmtDuration((Date.now() - startedAt.getTime()) / 1000) });
  }, 1000);

  // A logged-in viewer earns experience for each minute watched.
  setInterval(async function () {
    if (!(await me()) || !playing || video.paused) return;
    api('POST', '/api/channels/' + encodeURIComponent(slug) + '/heartbeat').catch(function () {});
  }, 60000);

  // Follow: a followed channel going live comes first on the home page.
  const followBtn = document.getElementById('follow-button');
  async function loadFollow() {
    const f = await api('GET', '/api/channels/' + encodeURIComponent(slug) + '/follow');
    followBtn.textContent = (f.following ? t('watch.following') : t('watch.follow')) + ' · ' + fmtNumber(f.followers);
    followBtn.setAttribute('aria-pressed', String(f.following));
    followBtn.hidden = false;
    return f;
  }
  followBtn.addEventListener('click', async function () {
    if (!(await me())) { location.href = '/login?next=' + encodeURIComponent(location.pathname); return; }
    const following = followBtn.getAttribute('aria-pressed') === 'true';
    try {
      await api(following ? 'DELETE' : 'POST', '/api/channels/' + encodeURIComponent(slug) + '/follow');
    } catch (e) { toast(e.message, 'error'); return; }
    loadFollow().catch(function () {});
  });
  navUser();
  loadFollow().catch(function () {});

  unmute.addEventListener('click', function () { video.muted = false; unmute.hidden = true; video.play().catch(function () {}); });
  poll();
})();
