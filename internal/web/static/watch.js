// Watch page: polls the channel's live state, plays LL-HLS with hls.js (or
// natively on Safari) or, with "Low delay" on, WebRTC (WHEP), and shows an
// offline / ended card otherwise.
(function () {
  'use strict';
  const { t, lang, api, toast, me, navUser, fmtDuration, fmtNumber, rtcOffer, rtcEnd } = window.Livehouse;
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

  // Where to play: GET /api/play names the least-loaded healthy edge near
  // the viewer (or the origin). When that edge stops answering (network
  // errors, or the picture stands still), the page asks again, avoiding
  // it, and moves the player there without a reload. No answer: this node.
  let playNode = '';
  let hlsGen = 0;        // bumped by every start and stop: late answers are ignored
  let moving = false;
  let lastMove = 0;
  let watchdog = null;
  async function playSource(avoid) {
    try {
      const p = await api('GET', '/api/play/' + encodeURIComponent(slug) + (avoid ? '?avoid=' + encodeURIComponent(avoid) : ''));
      playNode = p.node || '';
      root.dataset.node = playNode;
      return p.hls + (p.hls.indexOf('?') < 0 ? '?' : '&') + 'via=page';
    } catch (e) {
      playNode = '';
      return src;
    }
  }

  // fatal: hls.js gave up on the source, so it restarts even when the
  // answer is the same node (a single-node platform, a brief hiccup).
  let playURL = '';
  function moveEdge(why, fatal) {
    if (!hls) return;
    if (moving || Date.now() - lastMove < 1500) {
      // hls.js stopped on a fatal error: try again once this move is done.
      if (fatal) setTimeout(function () { moveEdge(why, true); }, 1600);
      return;
    }
    moving = true;
    lastMove = Date.now();
    const mine = hlsGen;
    const from = playNode;
    // A viewer who paused stays paused: the move reloads the source, it does
    // not press play for them.
    const wasPlaying = !video.paused;
    playSource(from).then(function (url) {
      moving = false;
      if (mine !== hlsGen || !hls) return;
      if (url === playURL && !fatal) return;
      playURL = url;
      document.dispatchEvent(new CustomEvent('livehouse:edge', { detail: { node: playNode, why: why } }));
      if (playNode && playNode !== from) say(t('edge.moved'));
      hls.loadSource(url);
      hls.startLoad(-1);
      if (wasPlaying) video.play().catch(function () {});
    });
  }

  function startHLS() {
    mode('hls');
    const mine = ++hlsGen;
    playSource('').then(function (url) {
      if (mine !== hlsGen || !playing || pc) return; // stopped, or switched to WHEP meanwhile
      if (window.Hls && Hls.isSupported()) {
        hls = new Hls({
          lowLatencyMode: true,        // use parts and blocking playlist reload
          backBufferLength: 30,
          maxLiveSyncPlaybackRate: 1.5 // catch up after a stall instead of drifting
        });
        hls.on(Hls.Events.ERROR, function (_, data) {
          if (data.type === Hls.ErrorTypes.NETWORK_ERROR) { moveEdge(data.details, data.fatal); return; }
          if (!data.fatal) return;
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
          stopPlayer();          // the next poll restarts it if the stream is still live
        });
        playURL = url;
        hls.loadSource(url);
        hls.attachMedia(video);
        mode('hls');
        video.play().catch(function () {});
        // A picture starved for 2.5 s while it should play, from another
        // node: that edge may hang rather than refuse. (Playing from this
        // node, a stall is the stream's own, and reloading would not help.)
        let last = -1, still = 0;
        clearInterval(watchdog);
        watchdog = setInterval(function () {
          if (!hls || !/^https?:/.test(playURL) || video.paused || video.readyState === 0 || video.readyState >= 3) { still = 0; return; }
          if (video.currentTime === last) still += 500; else still = 0;
          last = video.currentTime;
          if (still >= 2500) { still = 0; moveEdge('stalled', true); }
        }, 500);
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        video.src = url;       // Safari plays LL-HLS natively
        video.play().catch(function () {});
      }
    });
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
      else if (st === 'connected' && !framed) waitForFrames(5000);
      else if (st === 'disconnected') {
        clearTimeout(whepTimer);
        whepTimer = setTimeout(function () { if (pc === mine && mine.connectionState !== 'connected') fallBack(t('watch.fail.connection')); }, 5000);
      }
    });
    video.srcObject = stream;
    video.play().catch(function () {});
    // Frames or not, five seconds after connecting decide (ten when it
    // never connects): a slow phone still setting up ICE is not a failure
    // of low delay; a connection that carries no picture is.
    let framed = false;
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(function () { framed = true; });
    function waitForFrames(ms) {
      clearTimeout(whepTimer);
      whepTimer = setTimeout(function () {
        if (pc !== mine) return;
        if (!framed && !(video.videoWidth > 0 && video.currentTime > 0)) fallBack(t('watch.fail.no_frames'));
      }, ms);
    }
    waitForFrames(10000);
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
    // startHLS plays once the source is attached (after /api/play answers).
    if (lowDelay.checked && canWHEP && !fellBack) { startWHEP(); video.play().catch(function () {}); }
    else startHLS();
    unmute.hidden = !video.muted;
  }

  function stopPlayer() {
    playing = false;
    hlsGen++;
    clearInterval(watchdog);
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
        if (document.body.dataset.state !== 'ended') {
          // Say "last live just now" at once; the server's record follows.
          endedSeen = new Date();
          showCardInfo();
          loadSchedule();
        }
        setState('ended');
        cardTitle.textContent = t('watch.ended');
        cardText.textContent = t('watch.ended_text', { title: ch.title });
      } else {
        setState('offline');
        cardTitle.textContent = t('watch.offline', { title: ch.title });
      }
      showCover(ch.cover_url);
    }
  }

  // The offline and ended cards: the channel's cover behind the text, when
  // it was last live ("3 hours ago", in the page's language) and the next
  // scheduled stream in the viewer's time zone; the whole schedule is
  // listed under the title.
  const card = document.getElementById('offline-card');
  const cardCover = document.getElementById('card-cover');
  const cardLast = document.getElementById('card-last');
  const cardNext = document.getElementById('card-next');
  const schedBox = document.getElementById('schedule');
  const schedList = document.getElementById('schedule-list');
  const rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }) : null;
  let lastLive = null;   // when the last session ended (the server's record); null: never live
  let endedSeen = null;  // when this page saw the stream end (the record may lag a moment)
  let schedule = [];

  function showCover(url) {
    if (!url) { cardCover.hidden = true; card.classList.remove('has-cover'); return; }
    if (cardCover.getAttribute('src') !== url) cardCover.src = url;
    cardCover.hidden = false;
    card.classList.add('has-cover');
  }

  function ago(d) {
    const sec = (Date.now() - d.getTime()) / 1000;
    if (sec < 60 || !rtf) return t('offline.just_now');
    const units = [['minute', 60, 60], ['hour', 3600, 24], ['day', 86400, 30], ['month', 2592000, 12], ['year', 31536000, Infinity]];
    for (const [unit, size, max] of units) {
      const n = Math.floor(sec / size);
      if (n < max) return rtf.format(-n, unit);
    }
    return '';
  }

  function when(d) {
    const soon = d.getTime() - Date.now() < 6 * 86400000;
    const opts = soon ? { weekday: 'short', hour: 'numeric', minute: '2-digit' }
      : { weekday: 'short', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' };
    return new Intl.DateTimeFormat(lang, opts).format(d);
  }

  function showCardInfo() {
    let last = lastLive;
    if (endedSeen && (!last || last < endedSeen)) last = endedSeen;
    cardLast.textContent = last ? t('offline.last_live', { when: ago(last) }) : t('offline.never_live');
    const upcoming = schedule.filter((e) => new Date(e.starts_at).getTime() > Date.now() - 60000);
    const next = upcoming[0];
    cardNext.hidden = !next;
    cardNext.textContent = next ? t('schedule.next', { when: when(new Date(next.starts_at)), title: next.title }) : '';
    schedBox.hidden = upcoming.length === 0;
    schedList.replaceChildren(...upcoming.map((e) => {
      const li = document.createElement('li');
      const time = document.createElement('time');
      time.dateTime = e.starts_at;
      time.textContent = when(new Date(e.starts_at));
      const title = document.createElement('span');
      title.className = 'schedule-title';
      title.textContent = e.title;
      li.append(time, title);
      if (e.weekly) {
        const w = document.createElement('span');
        w.className = 'schedule-weekly';
        w.textContent = t('schedule.weekly');
        li.appendChild(w);
      }
      return li;
    }));
  }

  let schedRetry = null;
  async function loadSchedule(attempt) {
    clearTimeout(schedRetry);
    try {
      const data = await api('GET', '/api/channels/' + encodeURIComponent(slug) + '/schedule');
      lastLive = data.last_live_at ? new Date(data.last_live_at) : null;
      schedule = data.schedule || [];
    } catch (e) {
      // The card keeps what it had; a busy server gets asked again, less often each time.
      const n = (attempt || 0) + 1;
      if (n <= 5) schedRetry = setTimeout(function () { loadSchedule(n); }, 3000 * n);
    }
    showCardInfo();
  }
  // Relative times age; a passed entry drops out (weekly ones come back as the next week's).
  setInterval(function () {
    if (document.body.dataset.state === 'live') return;
    if (schedule.length && new Date(schedule[0].starts_at).getTime() < Date.now()) loadSchedule();
    else showCardInfo();
  }, 30000);

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
  loadSchedule(); // the list under the title shows while live too
  poll();
})();
