// The moderation panels: held messages (approve / deny / deny and mute,
// with the filter's reasons), appeals, recent blocked messages, the filter
// setting and the term list. In the studio (/studio/SLUG/moderation) they
// are the channel's: moderators act on the queues, the owner also sets the
// filter (on/off, level) and the terms. In the admin (/admin/moderation)
// they are the platform's: every channel's queues with names and titles,
// the platform's floor and terms. The held queue refreshes every 3 s.
(function () {
  'use strict';
  const { $, t, api, say, fmtTime, navUser } = window.Livehouse;
  const page = document.querySelector('[data-page="studio-moderation"], [data-page="admin-moderation"]');
  if (!page) return;
  const platform = page.dataset.page === 'admin-moderation';
  const manage = platform || page.dataset.manage === '1';
  const base = platform ? '/api/admin/moderation' : '/api/channels/' + encodeURIComponent(page.dataset.slug) + '/moderation';
  document.querySelectorAll('.tabs a').forEach((a) => {
    if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
  });
  navUser();

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  // known: a catalog word for a value the engine names (a raw value stays as is).
  const known = (prefix, v) => { const s = t(prefix + v); return s === prefix + v ? v : s; };
  const category = (c) => known('mod.category.', c || 'custom');

  // reasonLines turns the filter's reasons into lines a moderator reads:
  // which rule (term, classifier, spam heuristic), which normalisation
  // steps found it, and the score.
  function reasonLines(reasons) {
    if (!Array.isArray(reasons)) return [];
    return reasons.map((r) => {
      const parts = [known('mod.source.', r.source || 'term')];
      if (r.rule) parts.push('«' + r.rule + '»');
      if (r.category) parts.push(category(r.category));
      if (r.steps && r.steps.length) parts.push(t('mod.steps', { steps: r.steps.join(' → ') }));
      if (r.score) parts.push(t('mod.score', { n: r.score }));
      return parts.join(' · ');
    });
  }

  // verdictItem is one held, blocked or appealed message.
  function verdictItem(v, actions) {
    const li = el('li', 'modq-item');
    li.dataset.id = v.id;
    const head = el('div', 'modq-head');
    head.append(el('strong', 'modq-user', v.username || '—'), el('span', 'modq-cat', category(v.category)),
      el('span', 'modq-score', t('mod.score', { n: v.score })), el('time', 'modq-time', fmtTime(v.created_at)));
    if (v.kind && v.kind !== 'chat') head.appendChild(el('span', 'modq-kind', known('mod.kind.', v.kind)));
    const text = el('p', 'modq-text', v.text);
    li.append(head, text);
    const lines = reasonLines(v.reasons);
    if (lines.length) {
      const d = el('details', 'modq-reasons');
      d.append(el('summary', '', t('mod.reasons')));
      const ul = el('ul');
      lines.forEach((l) => ul.appendChild(el('li', '', l)));
      d.appendChild(ul);
      li.appendChild(d);
    }
    if (actions) {
      const bar = el('div', 'modq-actions');
      actions.forEach(([label, cls, fn]) => {
        const b = el('button', cls, label);
        b.type = 'button';
        b.addEventListener('click', () => fn(b));
        bar.appendChild(b);
      });
      li.appendChild(bar);
    }
    return li;
  }

  // Held messages.
  let heldSig = null; // the ids shown (null: redraw)
  async function loadHeld() {
    let data;
    try { data = await api('GET', base + '/verdicts?action=hold&pending=1' + (platform ? '' : '&kind=chat')); } catch (e) { say($('held-status'), e.message, true); return; }
    const sig = data.verdicts.map((v) => v.id).join(',');
    $('held-count').textContent = data.verdicts.length ? '(' + data.verdicts.length + ')' : '';
    $('held-empty').hidden = data.verdicts.length > 0;
    if (sig === heldSig) return; // unchanged: keep what the moderator is reading
    heldSig = sig;
    $('held-list').replaceChildren(...data.verdicts.map((v) => verdictItem(v, [
      [t('mod.approve'), 'ok-button', (b) => decide(v, 'approve', b)],
      [t('mod.deny'), '', (b) => decide(v, 'deny', b)],
    ].concat(v.kind === 'chat' && v.channel_id ? [[t('mod.deny_mute'), 'danger', (b) => decide(v, 'deny_mute', b)]] : []))));
  }
  async function decide(v, decision, button) {
    button.disabled = true;
    try {
      await api('POST', base + '/verdicts/' + v.id, { decision, minutes: decision === 'deny_mute' ? 10 : 0 });
      say($('held-status'), t('mod.decided.' + decision, { name: v.username }));
    } catch (e) {
      say($('held-status'), e.message, true);
    }
    heldSig = null;
    loadHeld();
  }

  // The filter's setting: the channel's on/off and level, or the platform's floor.
  // Until it has loaded the select shows the first level, not the setting:
  // data-loaded says when it is the real one.
  async function loadFilter() {
    if (platform) {
      $('filter-level').value = String((await api('GET', base + '/settings')).floor);
    } else {
      const fs = await api('GET', base + '/filter');
      $('filter-enabled').checked = fs.enabled;
      $('filter-level').value = String(fs.level);
    }
    $('filter-level').dataset.loaded = '1';
  }
  $('filter-save').addEventListener('click', async () => {
    try {
      if (platform) await api('PUT', base + '/settings', { floor: Number($('filter-level').value) });
      else await api('PUT', base + '/filter', { enabled: $('filter-enabled').checked, level: Number($('filter-level').value) });
      say($('filter-status'), t('mod.saved'));
    } catch (e) { say($('filter-status'), e.message, true); }
  });
  if (!manage) ['filter-enabled', 'filter-level', 'filter-save'].forEach((id) => { $(id).disabled = true; });

  // The channel's terms (the filter engine's list).
  async function loadTerms() {
    let data;
    try { data = await api('GET', base + '/terms'); } catch (e) { say($('term-status'), e.message, true); return; }
    const terms = data.terms || [];
    $('term-empty').hidden = terms.length > 0;
    $('term-rows').replaceChildren(...terms.map((x) => {
      const tr = el('tr');
      tr.append(el('td', 'modq-term', x.term), el('td', '', known('mod.action.', x.action)), el('td', '', category(x.category)),
        el('td', '', x.pinyin ? '✓' : ''), el('td', '', x.initials ? '✓' : ''));
      const td = el('td');
      if (manage) {
        const b = el('button', 'danger', t('mod.term_remove'));
        b.type = 'button';
        b.setAttribute('aria-label', t('mod.term_remove') + ': ' + x.term);
        b.addEventListener('click', async () => {
          try {
            await api('DELETE', base + '/terms/' + x.id);
            loadTerms();
          } catch (e) { say($('term-status'), e.message, true); }
        });
        td.appendChild(b);
      }
      tr.appendChild(td);
      return tr;
    }));
  }
  $('term-form').hidden = !manage;
  $('term-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', base + '/terms', { term: $('term-text').value.trim(), action: $('term-action').value,
        category: $('term-category').value, pinyin: $('term-pinyin').checked, initials: $('term-initials').checked });
      $('term-text').value = '';
      say($('term-status'), t('mod.term_added'));
      loadTerms();
    } catch (e) { say($('term-status'), e.message, true); }
  });

  // Appeals.
  async function loadAppeals() {
    let data;
    try { data = await api('GET', base + '/appeals?status=open'); } catch (e) { say($('appeal-status'), e.message, true); return; }
    $('appeal-empty').hidden = data.appeals.length > 0;
    $('appeal-list').replaceChildren(...data.appeals.map((a) => {
      const li = verdictItem(a.verdict, [
        [t('mod.uphold'), 'ok-button', (b) => decideAppeal(a, 'uphold', b)],
        [t('mod.reject'), '', (b) => decideAppeal(a, 'reject', b)],
      ]);
      if (a.reason) li.insertBefore(el('p', 'modq-appeal', t('mod.appeal_says', { reason: a.reason })), li.querySelector('.modq-actions'));
      return li;
    }));
  }
  async function decideAppeal(a, decision, button) {
    button.disabled = true;
    try {
      await api('POST', base + '/appeals/' + a.id, { decision });
      say($('appeal-status'), t(decision === 'uphold' ? 'mod.appeal_upheld' : 'mod.appeal_rejected'));
    } catch (e) { say($('appeal-status'), e.message, true); }
    loadAppeals();
  }

  // Recent blocked messages.
  async function loadBlocked() {
    const data = await api('GET', base + '/verdicts?action=block&limit=30');
    $('blocked-empty').hidden = data.verdicts.length > 0;
    $('blocked-list').replaceChildren(...data.verdicts.map((v) => verdictItem(v)));
  }

  loadHeld();
  loadFilter().catch((e) => say($('filter-status'), e.message, true));
  loadTerms();
  loadAppeals();
  loadBlocked().catch(() => {});
  // Live: the held queue every 3 s, the rest every 15 s (while the tab is shown).
  let tick = 0;
  setInterval(() => {
    if (document.hidden) return;
    loadHeld();
    if (++tick % 5 === 0) { loadAppeals(); loadBlocked().catch(() => {}); }
  }, 3000);
})();
