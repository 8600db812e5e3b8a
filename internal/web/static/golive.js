// "Go live from this browser": camera and microphone, or a shared screen
// with the microphone, sent to the channel over WHIP (POST /whip/SLUG with
// the stream key as the bearer token; DELETE on the session ends it).
(function () {
  'use strict';
  const { $, t, rtcOffer, rtcEnd } = window.Livehouse;
  const page = document.querySelector('[data-page="studio"]');
  const panel = $('browser-live');
  if (!page || !panel) return;
  const slug = page.dataset.slug;
  const keyStore = 'lh-key-' + slug; // where studio.js keeps the key this tab knows
  const preview = $('bl-preview');
  const stateEl = $('bl-state');
  const cameraSel = $('bl-camera');
  const micSel = $('bl-mic');

  let media = null;   // the MediaStream being previewed and sent
  let pc = null;
  let session = '';   // the WHIP session URL (Location)
  let token = '';
  let watchdog = null;

  function state(name, reason) {
    panel.dataset.state = name;
    stateEl.textContent = name === 'failed' ? t('golive.state.failed', { reason }) : t('golive.state.' + name);
    stateEl.className = name === 'failed' ? 'error' : (name === 'live' ? 'ok' : '');
    $('bl-start').disabled = name === 'connecting' || name === 'live';
    $('bl-stop').disabled = !(name === 'connecting' || name === 'live');
    $('bl-source').disabled = name === 'connecting' || name === 'live';
  }

  const screenMode = () => $('bl-source').value === 'screen';

  // Device pickers: names appear once the browser has been allowed to use them.
  async function listDevices() {
    let devices = [];
    try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { return; }
    fill(cameraSel, devices.filter((d) => d.kind === 'videoinput'), 'golive.camera_n');
    fill(micSel, devices.filter((d) => d.kind === 'audioinput'), 'golive.mic_n');
    const opt = document.createElement('option');
    opt.value = 'none';
    opt.textContent = t('golive.no_mic');
    micSel.appendChild(opt);
    const cur = media && media.getAudioTracks()[0];
    micSel.value = cur ? (cur.getSettings().deviceId || micSel.value) : 'none';
    const vid = media && !screenMode() && media.getVideoTracks()[0];
    if (vid && vid.getSettings().deviceId) cameraSel.value = vid.getSettings().deviceId;
  }
  function fill(sel, devices, key) {
    const keep = sel.value;
    sel.replaceChildren(...devices.map((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || t(key, { n: i + 1 });
      return o;
    }));
    if (devices.some((d) => d.deviceId === keep)) sel.value = keep;
  }

  async function camera() {
    const id = cameraSel.value;
    return navigator.mediaDevices.getUserMedia({ video: id ? { deviceId: { exact: id }, width: { ideal: 1280 }, height: { ideal: 720 } } : { width: { ideal: 1280 }, height: { ideal: 720 } } });
  }
  async function microphone() {
    if (micSel.value === 'none') return null;
    const id = micSel.value;
    return navigator.mediaDevices.getUserMedia({ audio: id ? { deviceId: { exact: id } } : true });
  }

  // Tracks: the video from the chosen source, the chosen microphone's audio.
  async function videoTrack() {
    const s = screenMode()
      ? await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 30 } }, audio: false })
      : await camera();
    const track = s.getVideoTracks()[0];
    if (screenMode()) track.addEventListener('ended', () => { if (media && media.getVideoTracks()[0] === track) stop(); }); // the browser's "Stop sharing"
    return track;
  }
  async function audioTrack() {
    try {
      const s = await microphone();
      return s ? s.getAudioTracks()[0] : null;
    } catch (e) { return null; } // no microphone allowed: video alone
  }

  // put shows a new track of its kind and, while live, sends it in place of
  // the old one (replaceTrack: no new offer).
  function put(kind, track) {
    if (!media) media = new MediaStream();
    for (const old of media.getTracks().filter((x) => x.kind === kind)) { media.removeTrack(old); old.stop(); }
    if (track) media.addTrack(track);
    if (preview.srcObject !== media) preview.srcObject = media;
    preview.play().catch(() => {});
    if (!pc) return;
    const tr = pc.getTransceivers().find((x) => x.receiver.track.kind === kind);
    if (tr) tr.sender.replaceTrack(track).catch(() => {});
  }

  // refresh (re)captures what changed: 'video', 'audio' or both.
  async function refresh(what) {
    try {
      if (what !== 'audio') put('video', await videoTrack());
      if (what !== 'video') put('audio', await audioTrack());
      await listDevices();
      if (!pc) state('preview');
    } catch (e) {
      state('failed', t('golive.no_devices', { reason: e.message || e.name }));
    }
  }

  function preferH264(transceiver) {
    if (!window.RTCRtpSender || !RTCRtpSender.getCapabilities || !transceiver.setCodecPreferences) return;
    const caps = RTCRtpSender.getCapabilities('video');
    if (!caps) return;
    // H.264 first (what LL-HLS carries without transcoding), then the rest as offered.
    const mode1 = (c) => /packetization-mode=1/.test(c.sdpFmtpLine || '') ? 0 : 1; // non-interleaved first: what most servers take
    const h264 = caps.codecs.filter((c) => /h264/i.test(c.mimeType)).sort((a, b) => mode1(a) - mode1(b));
    if (!h264.length) return;
    const rest = caps.codecs.filter((c) => !/h264/i.test(c.mimeType));
    try { transceiver.setCodecPreferences([...h264, ...rest]); } catch (e) { /* keep the browser's order */ }
  }

  async function start() {
    token = sessionStorage.getItem(keyStore) || $('bl-key').value.trim();
    if (!token) { state('failed', t('golive.key_needed')); $('bl-key-row').hidden = false; return; }
    if (!window.RTCPeerConnection) { state('failed', t('golive.unsupported')); return; }
    if (!media || !media.getVideoTracks().length) await refresh();
    if (!media || !media.getVideoTracks().length) return; // refresh said why
    state('connecting');
    const mine = pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    try {
      const vt = media.getVideoTracks()[0] || null, at = media.getAudioTracks()[0] || null;
      preferH264(pc.addTransceiver(vt || 'video', { direction: 'sendonly', streams: [media] }));
      pc.addTransceiver(at || 'audio', { direction: 'sendonly', streams: [media] }); // Opus is WebRTC's audio
      pc.addEventListener('connectionstatechange', onConnection);
      const loc = await rtcOffer(mine, '/whip/' + encodeURIComponent(slug), token);
      if (pc !== mine) { rtcEnd(loc, token); return; } // stopped while connecting
      session = loc;
      if (pc.connectionState === 'connected') state('live');
      clearTimeout(watchdog);
      watchdog = setTimeout(() => { if (pc && pc.connectionState !== 'connected') fail(t('golive.ice_failed')); }, 10000);
    } catch (e) {
      if (pc === mine) fail(e.message || String(e));
    }
  }

  function onConnection() {
    if (!pc) return;
    const s = pc.connectionState;
    if (s === 'connected') { clearTimeout(watchdog); state('live'); }
    else if (s === 'failed') fail(t('golive.ice_failed'));
    else if (s === 'disconnected') {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => { if (pc && pc.connectionState !== 'connected') fail(t('golive.ice_failed')); }, 5000);
    }
  }

  function hangUp() {
    clearTimeout(watchdog);
    if (session) rtcEnd(session, token);
    session = '';
    if (pc) { pc.removeEventListener('connectionstatechange', onConnection); pc.close(); pc = null; }
  }
  function fail(reason) { hangUp(); state('failed', reason); }
  function stop() { hangUp(); state('stopped'); }

  $('golive-open').addEventListener('click', () => {
    panel.hidden = false;
    $('bl-key-row').hidden = !!sessionStorage.getItem(keyStore);
    panel.scrollIntoView({ block: 'start' });
    // Browsers give cameras only to secure pages: a LAN name over plain
    // HTTP gets no navigator.mediaDevices at all.
    if (!window.isSecureContext) { state('failed', t('golive.needs_https')); return; }
    if (!navigator.mediaDevices) { state('failed', t('golive.unsupported')); return; }
    if (!media) refresh();
  });
  $('bl-close').addEventListener('click', () => {
    stop();
    if (media) media.getTracks().forEach((tr) => tr.stop());
    media = null;
    preview.srcObject = null;
    panel.hidden = true;
  });
  $('bl-source').addEventListener('change', () => { $('bl-camera-row').hidden = screenMode(); refresh('video'); });
  cameraSel.addEventListener('change', () => refresh('video'));
  micSel.addEventListener('change', () => refresh('audio'));
  $('bl-start').addEventListener('click', start);
  $('bl-stop').addEventListener('click', stop);
  window.addEventListener('pagehide', hangUp);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) navigator.mediaDevices.addEventListener('devicechange', listDevices);
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) $('bl-source').querySelector('[value=screen]').disabled = true;
  state('idle');
})();
