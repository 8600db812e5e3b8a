// The studio's Simulcast panel: the channel's destinations (other
// platforms its stream is re-sent to while live), each with an on/off
// switch and its state on the node that ingests the stream. Shown only to
// those who may manage the channel (the API refuses moderators).
(function () {
  'use strict';
  const { $, t, api, say, button } = window.Livehouse;
  const page = $('main');
  if (!page || page.dataset.page !== 'studio') return;
  const base = '/api/channels/' + encodeURIComponent(page.dataset.slug) + '/destinations';
  const panel = $('simulcast'), list = $('sim-list'), status = $('sim-status');
  let data = { destinations: [], max: 8 };
  let editing = false; // a request is in flight: the next refresh waits

  function stateText(d) {
    if (!d.enabled) return t('simulcast.state.off');
    const st = d.state || { state: 'idle' };
    switch (st.state) {
      case 'connecting': return t('simulcast.state.connecting');
      case 'live': return st.slate ? t('simulcast.state.slate') : t('simulcast.state.live');
      case 'retrying': {
        const n = Math.ceil(((st.retry_at || 0) - Date.now()) / 1000);
        const when = n > 0 ? t('simulcast.state.retrying', { n }) : t('simulcast.state.connecting');
        return st.reason ? when + ' · ' + t('simulcast.reason.' + st.reason) : when;
      }
      case 'failed': return t('simulcast.state.failed', { reason: t('simulcast.reason.' + (st.reason || 'refused')) });
      default: return t('simulcast.state.idle');
    }
  }

  function stateClass(d) {
    return d.enabled ? (d.state && d.state.state) || 'idle' : 'off';
  }

  function showState(li, d) {
    li.dataset.state = stateClass(d);
    const st = li.querySelector('.sim-state');
    st.textContent = stateText(d);
    st.title = d.enabled && d.state && d.state.detail && d.state.state !== 'live' ? d.state.detail : '';
  }

  // render rebuilds the list only when destinations change; a state
  // change (every poll, every countdown tick) updates its item in place,
  // so a switch never moves under the pointer or loses keyboard focus.
  let shown = '';
  function render() {
    const ds = data.destinations;
    $('sim-count').textContent = t('simulcast.count', { n: ds.length, max: data.max });
    $('sim-none').hidden = ds.length > 0;
    const full = ds.length >= data.max;
    $('sim-submit').disabled = full;
    $('sim-add').title = full ? t('simulcast.full') : '';
    const shape = JSON.stringify(ds.map((d) => [d.id, d.name, d.protocol, d.url, d.key, d.enabled]));
    if (shape === shown) {
      for (const d of ds) {
        const li = list.querySelector('.sim-item[data-id="' + d.id + '"]');
        if (li) showState(li, d);
      }
      return;
    }
    shown = shape;
    list.replaceChildren();
    for (const d of ds) {
      const li = document.createElement('li');
      li.className = 'sim-item';
      li.dataset.id = d.id;
      const head = document.createElement('div');
      head.className = 'sim-head';
      const name = document.createElement('strong');
      name.className = 'sim-name';
      name.textContent = d.name;
      const proto = document.createElement('span');
      proto.className = 'badge protocol';
      proto.textContent = d.protocol.toUpperCase();
      const st = document.createElement('span');
      st.className = 'sim-state';
      head.append(name, proto, st);
      const where = document.createElement('div');
      where.className = 'sim-where';
      const url = document.createElement('code');
      url.textContent = d.url;
      where.appendChild(url);
      if (d.key) {
        const key = document.createElement('span');
        key.className = 'sim-key';
        key.textContent = t('simulcast.key') + ' ' + d.key;
        where.appendChild(key);
      }
      const acts = document.createElement('div');
      acts.className = 'sim-actions';
      const sw = document.createElement('label');
      sw.className = 'sim-switch';
      const cb = document.createElement('input');
      cb.type = 'checkbox';
      cb.checked = d.enabled;
      cb.addEventListener('change', () => update(d, { enabled: cb.checked }));
      sw.append(cb, ' ' + t('simulcast.enabled'));
      acts.append(sw, button(t('simulcast.delete'), 'danger', () => remove(d)));
      li.append(head, where, acts);
      showState(li, d);
      list.appendChild(li);
    }
  }

  async function load() {
    try {
      data = await api('GET', base);
    } catch (e) {
      if (e.status === 401 || e.status === 403) { panel.hidden = true; return false; }
      say(status, e.message, true);
      return true;
    }
    panel.hidden = false;
    render();
    return true;
  }

  async function update(d, change) {
    editing = true;
    try {
      await api('PATCH', base + '/' + d.id, change);
      say(status, '');
    } catch (e) { say(status, e.message, true); }
    editing = false;
    await load();
  }

  async function remove(d) {
    if (!confirm(t('simulcast.confirm_delete', { name: d.name }))) return;
    editing = true;
    try {
      await api('DELETE', base + '/' + d.id);
      say(status, t('simulcast.deleted'));
    } catch (e) { say(status, e.message, true); }
    editing = false;
    await load();
  }

  $('sim-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    editing = true;
    try {
      await api('POST', base, { name: $('sim-name').value.trim(), url: $('sim-url').value.trim(), key: $('sim-key').value });
      $('sim-form').reset();
      say(status, t('simulcast.added'));
    } catch (e) { say(status, e.message, true); }
    editing = false;
    await load();
  });

  // States change on the node that ingests the stream; they reach this
  // one over the bus, and this page by polling. Between polls the
  // "retrying in N s" countdown ticks locally.
  (async function poll() {
    if (!await load()) return;
    let ticks = 0;
    const timer = setInterval(async () => {
      if (document.hidden || editing) return;
      ticks++;
      if (ticks % 2 === 0) await load(); else render();
    }, 1000);
    window.addEventListener('pagehide', () => clearInterval(timer));
  })();
})();
