// Admin home: the cluster's nodes as their load reports describe them
// (GET /api/admin/nodes), refreshed every two seconds.
(function () {
  'use strict';
  const { t, api, fmtNumber } = window.Livehouse;
  const body = document.getElementById('nodes-body');
  if (!body) return;
  // Narrow screens show each node as a card: every value carries its
  // column's name (CSS shows it before the value).
  const labels = Array.from(document.querySelectorAll('#nodes-table thead th')).map((th) => th.textContent);

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function state(n) {
    if (n.silent) return ['silent', t('nodes.silent')]; // a drained node that stopped is gone too
    if (n.draining) return ['draining', t('nodes.draining')];
    return ['healthy', t('nodes.healthy')];
  }

  function render(nodes) {
    body.replaceChildren(...nodes.map(function (n) {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      const strong = document.createElement('strong');
      strong.textContent = 'node-' + n.id + (n.self ? ' ' + t('nodes.this') : '');
      const url = document.createElement('div');
      url.className = 'nodes-url';
      url.textContent = n.public_url || '';
      name.append(strong, url);
      const [cls, label] = state(n);
      tr.className = 'nodes-' + cls;
      tr.append(name, cell(t('nodes.role.' + n.role)), cell(n.region || '—'), cell(fmtNumber(n.viewers)),
        cell(t('nodes.mbps', { n: (n.egress_bps / 1e6).toFixed(1) })), cell(Math.round(n.cpu * 100) + '%'),
        cell(label, 'nodes-state ' + cls));
      Array.from(tr.children).forEach((td, i) => { td.dataset.label = labels[i] || ''; });
      return tr;
    }));
  }

  async function refresh() {
    try {
      render((await api('GET', '/api/admin/nodes')).nodes || []);
    } catch (e) {
      const tr = document.createElement('tr');
      const td = cell(t('nodes.failed'));
      td.colSpan = 7;
      tr.append(td);
      body.replaceChildren(tr);
    }
  }
  refresh();
  setInterval(refresh, 2000);
})();
