// Studio stream health: what the ingest sees of the channel's stream
// (codec, colour, resolution, audio, protocol, dropped frames), charts of
// the last five minutes of bitrate, frame rate and keyframe interval, and
// warnings that say what is wrong and how to fix it. Reads
// GET /api/channels/SLUG/health every second; where a server has no such
// endpoint it shows what the public live state has (GET …/live).
(function () {
  'use strict';
  const { $, t, api, fmtNumber, lang } = window.Livehouse;
  const page = document.querySelector('[data-page="studio"]');
  const panel = $('health');
  if (!page || !panel) return;
  const slug = page.dataset.slug;
  const base = '/api/channels/' + encodeURIComponent(slug);
  const windowMs = 5 * 60 * 1000;
  const dash = '–';

  // Samples of the last five minutes: from the server's history when it
  // keeps one, else gathered here one poll at a time.
  let samples = [];
  let basicOnly = false; // the server has no /health: public figures only
  let wasLive = false;

  function fact(id, text) { $(id).textContent = text || dash; }

  function facts(h) {
    const video = [h.video_codec && h.video_codec.toUpperCase(), h.profile, h.level && t('health.level', { level: h.level })].filter(Boolean);
    fact('fact-video', video.join(' · '));
    const colour = [h.chroma, h.bit_depth && t('health.bits', { n: h.bit_depth })].filter(Boolean);
    fact('fact-colour', colour.join(' · '));
    fact('fact-resolution', h.width ? t('health.resolution_value', { w: h.width, h: h.height, fps: round(h.fps, 1) }) : '');
    const audio = [h.audio_codec && h.audio_codec.toUpperCase(), h.sample_rate && t('health.hz', { n: fmtNumber(h.sample_rate) }),
      h.channels && t('health.channels_value', { n: h.channels })].filter(Boolean);
    fact('fact-audio', audio.join(' · '));
    fact('fact-protocol', h.protocol ? h.protocol.toUpperCase() : '');
    inputs(h.inputs);
    fact('fact-keyframes', h.keyframe_interval_ms ? t('health.seconds', { s: round(h.keyframe_interval_ms / 1000, 1) }) : '');
    fact('fact-frames', h.dropped_frames === undefined && h.late_frames === undefined ? ''
      : t('health.frames_value', { dropped: fmtNumber(h.dropped_frames || 0), late: fmtNumber(h.late_frames || 0) }));
  }

  // Backup ingest: which input is on air, the standby's state, switches.
  function inputs(i) {
    $('fact-input-row').hidden = !i;
    panel.dataset.onAir = i ? i.on_air : '';
    panel.dataset.standby = i ? i.standby : '';
    if (!i) return;
    const name = (x) => t('backup.' + x);
    const parts = [t('backup.on_air', { input: name(i.on_air) }),
      i.standby === 'none' ? t('backup.standby_none') : t('backup.standby_' + i.standby, { input: name(i.standby_input) })];
    if (i.failovers) parts.push(t('backup.failovers', { n: fmtNumber(i.failovers), ms: fmtNumber(i.last_failover_ms || 0) }));
    fact('fact-input', parts.join(' · '));
  }

  const round = (n, digits) => (n === undefined || n === null ? '' : Number(Number(n).toFixed(digits)));

  // Warnings: a badge, what it means and how to fix it, in the page's language.
  function warnings(h) {
    const list = $('health-warnings');
    const vars = { s: round((h.keyframe_interval_ms || 0) / 1000, 1), n: fmtNumber(h.late_frames || 0) };
    list.replaceChildren(...(h.warnings || []).map((code) => {
      const li = document.createElement('li');
      li.className = 'health-warning';
      li.dataset.code = code;
      const badge = document.createElement('strong');
      badge.className = 'badge warn';
      const known = t('health.warn.' + code + '.label') !== 'health.warn.' + code + '.label';
      badge.textContent = known ? t('health.warn.' + code + '.label') : code;
      const why = document.createElement('span');
      why.className = 'why';
      why.textContent = known ? t('health.warn.' + code + '.why', vars) : '';
      const fix = document.createElement('span');
      fix.className = 'fix';
      fix.textContent = known ? t('health.warn.' + code + '.fix') : '';
      li.append(badge, ' ', why, ' ', fix);
      return li;
    }));
    // Without the health API nothing is known about problems: say nothing.
    $('health-ok').hidden = !h.live || basicOnly || (h.warnings || []).length > 0;
  }

  // Charts: one small uPlot each, sized to the panel.
  const series = [
    { id: 'chart-bitrate', key: 'bitrate_kbps', scale: 1, colour: '#8ab4ff', value: (v) => t('health.kbps', { n: fmtNumber(Math.round(v)) }) },
    { id: 'chart-fps', key: 'fps', scale: 1, colour: '#a5d6a7', value: (v) => t('health.fps_value', { n: round(v, 1) }) },
    { id: 'chart-keyframes', key: 'keyframe_interval_ms', scale: 1 / 1000, colour: '#ffd54f', value: (v) => t('health.seconds', { s: round(v, 1) }) },
  ];
  const plots = [];
  const chartHeight = 120;
  const clock = (sec) => new Date(sec * 1000).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
  function makeCharts() {
    if (!window.uPlot) return;
    for (const s of series) {
      const box = $(s.id);
      const axis = { stroke: '#b0b0b8', grid: { stroke: '#2a2a33', width: 1 }, ticks: { stroke: '#2a2a33', width: 1 }, font: '11px system-ui, sans-serif' };
      plots.push(new uPlot({
        width: Math.max(200, box.clientWidth), height: chartHeight,
        legend: { show: false }, cursor: { show: false }, select: { show: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max((max || 0) * 1.2, s.key === 'fps' ? 30 : 1)] } },
        axes: [Object.assign({ space: 45, size: 28, values: (u, splits) => splits.map(clock) }, axis),
          Object.assign({ size: 52, space: 24, values: (u, splits) => splits.map((v) => fmtNumber(v)) }, axis)],
        series: [{}, { stroke: s.colour, width: 2, fill: s.colour + '22', spanGaps: false, points: { show: false } }],
      }, [[], []], box));
    }
    let resizing = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => plots.forEach((p, i) => p.setSize({ width: Math.max(200, $(series[i].id).clientWidth), height: chartHeight })), 100);
    });
  }

  function draw() {
    const now = Date.now();
    samples = samples.filter((p) => p.t > now - windowMs);
    const xs = samples.map((p) => p.t / 1000);
    series.forEach((s, i) => {
      const ys = samples.map((p) => (p[s.key] === undefined || p[s.key] === null ? null : p[s.key] * s.scale));
      const last = ys.length ? ys[ys.length - 1] : null;
      $(s.id + '-now').textContent = last === null ? dash : s.value(last);
      if (!plots[i]) return;
      plots[i].batch(() => {
        plots[i].setData([xs, ys], false);
        plots[i].setScale('x', { min: (now - windowMs) / 1000, max: now / 1000 });
      });
    });
  }

  function addSample(h) {
    const point = { t: Date.now(), bitrate_kbps: h.bitrate_kbps, fps: h.fps, keyframe_interval_ms: h.keyframe_interval_ms };
    samples.push(point);
  }

  function show(h) {
    panel.dataset.state = h.live ? 'live' : 'offline';
    panel.dataset.source = basicOnly ? 'basic' : 'health';
    $('health-offline').hidden = h.live;
    $('health-basic').hidden = !basicOnly || !h.live;
    $('health-protocol').textContent = h.live && h.protocol ? h.protocol.toUpperCase() : '';
    if (!h.live) {
      if (wasLive) samples.push({ t: Date.now() }); // a gap, not a line across the offline time
      wasLive = false;
      facts({});
      warnings({ warnings: [] });
      draw();
      return;
    }
    wasLive = true;
    facts(h);
    warnings(h);
    if (h.history && h.history.length) samples = h.history.slice();
    else addSample(h);
    draw();
  }

  // The public live state in the shape of a health answer.
  function fromLive(l) {
    const h = { live: l.live, bitrate_kbps: l.bitrate_kbps, fps: l.fps, warnings: [] };
    for (const tr of l.tracks || []) {
      if (tr.width) Object.assign(h, { video_codec: tr.codec, width: tr.width, height: tr.height, fps: tr.fps || l.fps });
      else if (tr.sample_rate) Object.assign(h, { audio_codec: tr.codec, sample_rate: tr.sample_rate, channels: tr.channels });
    }
    return h;
  }

  async function poll() {
    try {
      if (!basicOnly) {
        try {
          show(await api('GET', base + '/health'));
          return;
        } catch (e) {
          if (e.status !== 404) throw e;
          basicOnly = true;
        }
      }
      show(fromLive(await api('GET', base + '/live')));
    } catch (e) { /* a missed second: the next poll fills in */ }
  }

  makeCharts();
  poll();
  setInterval(poll, 1000);
})();
