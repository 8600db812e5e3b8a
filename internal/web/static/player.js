// Watch page: the player's own controls over the one <video> that LL-HLS
// (hls.js) and "Low delay" (WHEP) share: play/pause, volume and mute
// (remembered), live edge, quality, help, picture-in-picture, theatre and
// fullscreen of the stage, so the danmaku overlay stays over the video.
(function () {
  'use strict';
  const { t } = window.Livehouse;
  const $ = (id) => document.getElementById(id);
  const root = document.querySelector('main.watch');
  const stage = document.querySelector('.stage');
  const video = $('video');
  const bar = $('pc');
  const playBtn = $('pc-play'), muteBtn = $('pc-mute'), volume = $('pc-volume');
  const liveBtn = $('pc-live'), liveText = $('pc-live-text');
  const qualityBtn = $('pc-quality'), qualityMenu = $('pc-quality-menu');
  const helpBtn = $('pc-help'), helpBox = $('pc-help-box'), helpList = $('pc-help-list');
  const pipBtn = $('pc-pip'), theatreBtn = $('pc-theatre'), fullBtn = $('pc-full');
  const unmute = $('unmute');

  let engine = { mode: 'off', hls: null };
  bar.hidden = false;

  // --- Play / pause ---
  function togglePlay() {
    if (video.paused) video.play().catch(function () {});
    else video.pause();
  }
  function showPlay() {
    stage.classList.toggle('pc-paused', video.paused);
    playBtn.setAttribute('aria-label', video.paused ? t('player.play') : t('player.pause'));
  }
  playBtn.addEventListener('click', togglePlay);
  video.addEventListener('play', showPlay);
  video.addEventListener('pause', showPlay);

  // --- Volume and mute: remembered in this browser. Autoplay starts muted
  // (browsers demand it); the remembered choice applies on the first gesture.
  const savedVolume = parseFloat(localStorage.getItem('lh-volume'));
  if (savedVolume >= 0 && savedVolume <= 1) video.volume = savedVolume;
  let gestured = false;
  function firstGesture() {
    if (gestured) return;
    gestured = true;
    if (localStorage.getItem('lh-muted') === '0') video.muted = false;
    showVolume();
  }
  document.addEventListener('pointerdown', firstGesture, true);
  document.addEventListener('keydown', firstGesture, true);

  function showVolume() {
    const silent = video.muted || video.volume === 0;
    stage.classList.toggle('pc-muted', silent);
    muteBtn.setAttribute('aria-label', video.muted ? t('player.unmute') : t('player.mute'));
    volume.value = String(Math.round((video.muted ? 0 : video.volume) * 100));
    volume.setAttribute('aria-valuetext', volume.value + '%');
    if (!video.muted) unmute.hidden = true;
  }
  unmute.addEventListener('click', function () { gestured = true; video.muted = false; remember(); });
  // Saved at once, not on 'volumechange' (a task later): a reload right
  // after the change must still find it.
  function remember() {
    if (!gestured) return; // the page's own muted autoplay is not a choice
    localStorage.setItem('lh-volume', String(video.volume));
    localStorage.setItem('lh-muted', video.muted ? '1' : '0');
  }
  video.addEventListener('volumechange', function () { showVolume(); remember(); });
  function toggleMute() {
    video.muted = !video.muted;
    if (!video.muted && video.volume === 0) video.volume = 0.5;
    remember();
  }
  function nudgeVolume(d) {
    video.volume = Math.min(1, Math.max(0, Math.round((video.volume + d) * 100) / 100));
    video.muted = video.volume === 0;
    remember();
  }
  muteBtn.addEventListener('click', toggleMute);
  volume.addEventListener('input', function () {
    const v = Number(volume.value) / 100;
    video.volume = v;
    video.muted = v === 0;
    remember();
  });
  showVolume();

  // --- Live edge: "LIVE" at the edge; paused or > 3 s behind, "Go live". ---
  function liveEdge() {
    if (engine.hls && engine.hls.liveSyncPosition != null) return engine.hls.liveSyncPosition;
    const s = video.seekable;
    return s && s.length ? s.end(s.length - 1) : NaN;
  }
  function behind() {
    if (video.paused) return true;
    if (engine.mode === 'whep') return false; // WebRTC plays what arrives
    const edge = liveEdge();
    return isFinite(edge) && edge - video.currentTime > 3;
  }
  function showLive() {
    const late = behind();
    liveBtn.classList.toggle('pc-behind', late);
    liveText.textContent = late ? t('player.go_live') : t('player.live');
    liveBtn.setAttribute('aria-label', late ? t('player.go_live_label') : t('player.at_live_edge'));
  }
  liveBtn.addEventListener('click', function () {
    if (engine.mode === 'hls') {
      const edge = liveEdge();
      if (isFinite(edge)) video.currentTime = edge;
    }
    video.play().catch(function () {});
  });
  video.addEventListener('timeupdate', showLive);
  video.addEventListener('pause', showLive);
  video.addEventListener('play', showLive);

  // --- Quality: what hls.js offers; "Auto" by default. ---
  function heightOf(l) { return l.height ? l.height + 'p' : Math.round((l.bitrate || 0) / 1000) + 'k'; }
  function qualityOptions() {
    if (engine.mode === 'whep') return [{ level: -1, label: t('player.low_delay') }];
    const levels = (engine.hls && engine.hls.levels) || [];
    if (levels.length === 1) return [{ level: -1, label: t('player.auto_one', { q: heightOf(levels[0]) }) }];
    const opts = [{ level: -1, label: t('player.auto') }];
    levels.forEach(function (l, i) {
      // The ABR ladder's renditions live under /hls/SLUG/RUNG/; the
      // publisher's own stream (which a rung may match in height) is the source.
      const uri = l.uri || (l.url && l.url[0]) || '';
      const source = /\/hls\/[^/]+\/[^/?]+\.m3u8/.test(uri);
      opts.push({ level: i, label: source ? t('abr.source', { q: heightOf(l) }) : heightOf(l) });
    });
    return opts;
  }
  function chosenLevel() { return engine.hls && !engine.hls.autoLevelEnabled ? engine.hls.currentLevel : -1; }
  function showQuality() {
    const opts = qualityOptions();
    const chosen = chosenLevel();
    const current = opts.find(function (o) { return o.level === chosen; }) || opts[0];
    qualityBtn.textContent = current.label;
    qualityBtn.setAttribute('aria-label', t('player.quality_label', { q: current.label }));
    qualityMenu.textContent = '';
    opts.forEach(function (o) {
      const b = document.createElement('button');
      b.type = 'button';
      b.setAttribute('role', 'menuitemradio');
      b.setAttribute('aria-checked', String(o.level === current.level));
      b.textContent = o.label;
      b.addEventListener('click', function () {
        if (engine.hls) engine.hls.currentLevel = o.level; // -1: automatic
        closeQuality();
        showQuality();
        qualityBtn.focus();
      });
      qualityMenu.appendChild(b);
    });
  }
  function closeQuality() { qualityMenu.hidden = true; qualityBtn.setAttribute('aria-expanded', 'false'); }
  qualityBtn.addEventListener('click', function () {
    const open = qualityMenu.hidden;
    showQuality();
    qualityMenu.hidden = !open;
    qualityBtn.setAttribute('aria-expanded', String(open));
    if (open) { const first = qualityMenu.querySelector('[aria-checked="true"]'); if (first) first.focus(); }
  });
  document.addEventListener('click', function (e) {
    if (!qualityMenu.hidden && !e.target.closest('.pc-quality')) closeQuality();
  });

  document.addEventListener('livehouse:player', function (e) {
    engine = e.detail;
    if (engine.hls && window.Hls) {
      engine.hls.on(Hls.Events.MANIFEST_PARSED, showQuality);
      engine.hls.on(Hls.Events.LEVEL_SWITCHED, showQuality);
    }
    showQuality();
    showLive();
  });
  showQuality();

  // --- Picture-in-picture, where the browser has it. ---
  pipBtn.hidden = !(document.pictureInPictureEnabled && video.requestPictureInPicture);
  pipBtn.addEventListener('click', function () {
    if (document.pictureInPictureElement) document.exitPictureInPicture().catch(function () {});
    else video.requestPictureInPicture().catch(function () {});
  });

  // --- Theatre: the player takes the page's width; remembered. ---
  function setTheatre(on) {
    root.classList.toggle('theatre', on);
    theatreBtn.setAttribute('aria-pressed', String(on));
    theatreBtn.setAttribute('aria-label', on ? t('player.theatre_off') : t('player.theatre'));
    localStorage.setItem('lh-theatre', on ? '1' : '0');
  }
  setTheatre(localStorage.getItem('lh-theatre') === '1');
  theatreBtn.addEventListener('click', function () { setTheatre(!root.classList.contains('theatre')); });

  // --- Fullscreen of the stage: the danmaku layer lives inside it. ---
  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(function () {});
    else if (stage.requestFullscreen) stage.requestFullscreen().catch(function () {});
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen(); // iPhone: the video alone
  }
  fullBtn.addEventListener('click', toggleFullscreen);
  document.addEventListener('fullscreenchange', function () {
    const on = document.fullscreenElement === stage;
    stage.classList.toggle('pc-full', on);
    fullBtn.setAttribute('aria-label', on ? t('player.exit_fullscreen') : t('player.fullscreen'));
  });

  // --- Help overlay and keyboard shortcuts. ---
  const keys = [['player.key_play', 'player.do_play'], ['player.key_mute', 'player.do_mute'],
    ['player.key_full', 'player.do_full'], ['player.key_theatre', 'player.do_theatre'],
    ['player.key_volume', 'player.do_volume'], ['player.key_help', 'player.do_help']];
  keys.forEach(function (k) {
    const dt = document.createElement('dt'), dd = document.createElement('dd');
    dt.textContent = t(k[0]); dd.textContent = t(k[1]);
    helpList.append(dt, dd);
  });
  let helpReturn = null;
  function setHelp(open) {
    if (open === !helpBox.hidden) return;
    helpBox.hidden = !open;
    helpBtn.setAttribute('aria-expanded', String(open));
    if (open) { helpReturn = document.activeElement; $('pc-help-close').focus(); }
    else if (helpReturn && helpReturn.focus) helpReturn.focus();
  }
  helpBtn.addEventListener('click', function () { setHelp(helpBox.hidden); });
  $('pc-help-close').addEventListener('click', function () { setHelp(false); });

  function typing(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') return true;
    return el.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button', 'submit', 'color'].includes(el.type);
  }
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    const onControl = e.target.closest && e.target.closest('button, input, summary, a, [role="menu"]');
    const k = e.key;
    if (k === 'Escape') {
      if (!helpBox.hidden) { setHelp(false); e.preventDefault(); }
      else if (!qualityMenu.hidden) { closeQuality(); qualityBtn.focus(); e.preventDefault(); }
      return;
    }
    if (qualityMenu.contains(e.target) && (k === 'ArrowUp' || k === 'ArrowDown')) { // move within the menu
      const items = [...qualityMenu.querySelectorAll('button')];
      const i = items.indexOf(e.target) + (k === 'ArrowDown' ? 1 : -1);
      items[(i + items.length) % items.length].focus();
      e.preventDefault();
      return;
    }
    if (k === ' ' && onControl) return;                               // Space presses the focused control
    if ((k === 'ArrowUp' || k === 'ArrowDown') && e.target === volume) return; // the slider moves itself
    if (!document.body.dataset.state || document.body.dataset.state !== 'live') { if (k !== '?') return; }
    let done = true;
    switch (k) {
      case ' ': case 'k': case 'K': togglePlay(); break;
      case 'm': case 'M': toggleMute(); break;
      case 'f': case 'F': toggleFullscreen(); break;
      case 't': case 'T': setTheatre(!root.classList.contains('theatre')); break;
      case 'ArrowUp': video.muted = false; nudgeVolume(0.1); break;
      case 'ArrowDown': nudgeVolume(-0.1); break;
      case '?': setHelp(helpBox.hidden); break;
      default: done = false;
    }
    if (done) { e.preventDefault(); wake(); }
  });

  // --- Controls hide after 3 s without the mouse while playing. ---
  let idleTimer = null;
  function wake() {
    stage.classList.remove('pc-idle');
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () {
      if (!video.paused && qualityMenu.hidden && helpBox.hidden && !bar.contains(document.activeElement)) stage.classList.add('pc-idle');
    }, 3000);
  }
  ['mousemove', 'pointerdown', 'touchstart', 'focusin'].forEach(function (ev) { stage.addEventListener(ev, wake, { passive: true }); });
  video.addEventListener('play', wake);
  video.addEventListener('pause', wake);
  showPlay();
  wake();
})();
