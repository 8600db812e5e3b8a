// Money pages: the wallet (balance, top-up orders, history), a channel's
// earnings studio (earnings, withdrawals, statement, tiers, medal) and the
// admin money console (top-up and withdrawal review, grants, shares,
// ledger check). Uses the shared helpers from app.js.
(function () {
  'use strict';
  const { $, t, api, say, navUser, fmtTime, row, button, link, newKey, tierName, giftName, lang } = window.Livehouse;
  // Money as the page's locale writes it: "¥6.00" for CNY.
  function fmtMoney(cents, currency) {
    try {
      return new Intl.NumberFormat(lang, { style: 'currency', currency: currency || 'CNY', currencyDisplay: 'narrowSymbol' }).format(cents / 100);
    } catch (e) { return (cents / 100).toFixed(2) + ' ' + currency; } // an unknown currency code
  }
  // What a history line was: a gift says which and to whom.
  function movementText(m) {
    if (m.kind === 'gift' && m.gift) {
      const gift = giftName(m.gift, m.gift_name || m.gift);
      return m.channel ? t('wallet.gift_line', { gift, n: m.count, channel: m.channel }) : t('wallet.gift_line_nochannel', { gift, n: m.count });
    }
    if (m.kind === 'topup' && m.memo) {
      const id = m.memo.split(': ').pop();
      const p = packages[id];
      if (p) return t('kind.topup') + ' · ' + t('wallet.package_price', { coins: p.coins, price: fmtMoney(p.price_cents, p.currency) });
    }
    return t('kind.' + m.kind) + (m.memo ? ' · ' + m.memo : '');
  }
  const packages = {};
  const when = fmtTime;
  const pct = (bp) => t('money.percent', { n: bp / 100 });

  async function walletPage() {
    const me = await navUser();
    if (!me) { location.href = '/login'; return; }
    async function load() {
      const [w, orders] = await Promise.all([api('GET', '/api/wallet'), api('GET', '/api/wallet/topups')]);
      $('wallet-balance').textContent = w.balance;
      showNotices(w.notices || []);
      const rows = $('topup-rows');
      rows.innerHTML = '';
      for (const o of orders.topups) row(rows, ['#' + o.id, packages[o.package] ? t('wallet.package_price', { coins: packages[o.package].coins, price: fmtMoney(packages[o.package].price_cents, packages[o.package].currency) }) : o.package, String(o.coins), t('status.' + o.status), when(o.created_at)]);
      const moves = $('movement-rows');
      moves.innerHTML = '';
      for (const m of w.movements) row(moves, [when(m.at), movementText(m), (m.amount > 0 ? '+' : '') + m.amount]);
    }
    // Notices: a renewal a price rise stopped, with the way back.
    function showNotices(list) {
      const box = $('notices');
      box.hidden = list.length === 0;
      const ul = $('notice-list');
      ul.innerHTML = '';
      for (const n of list) {
        const li = document.createElement('li');
        li.className = 'notice';
        li.dataset.notice = n.id;
        const text = document.createElement('span');
        text.textContent = t('wallet.notice_renewal_stopped', { tier: tierName(n.tier_name), channel: n.channel, old: n.agreed_price, price: n.price }) + ' ';
        li.append(text, link('/c/' + encodeURIComponent(n.channel), t('wallet.notice_open')), ' ',
          button(t('wallet.notice_dismiss'), 'dismiss', async () => {
            try { await api('DELETE', '/api/wallet/notices/' + n.id); li.remove(); box.hidden = ul.children.length === 0; } catch (e) { say($('topup-status'), e.message, true); }
          }));
        ul.appendChild(li);
      }
    }
    const pk = await api('GET', '/api/wallet/packages');
    for (const p of pk.packages) {
      packages[p.id] = p;
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.package = p.id;
      b.textContent = t('wallet.package_price', { coins: p.coins, price: fmtMoney(p.price_cents, p.currency) });
      b.addEventListener('click', async () => {
        // One key per order: a retried request is the same order.
        b.disabled = true;
        try {
          const o = await api('POST', '/api/wallet/topups', { package: p.id, idempotency_key: newKey() });
          say($('topup-status'), t('wallet.order_placed', { id: o.id, coins: o.coins }));
          load();
        } catch (e) { say($('topup-status'), e.message, true); }
        b.disabled = false;
      });
      $('packages').appendChild(b);
    }
    await load();
    setInterval(load, 5000); // an approval shows up by itself
  }

  async function studioMoneyPage(slug) {
    const me = await navUser();
    if (!me) { location.href = '/login'; return; }
    const base = '/api/channels/' + encodeURIComponent(slug);
    async function load() {
      try {
        const [e, w] = await Promise.all([api('GET', base + '/earnings'), api('GET', base + '/withdrawals')]);
        $('earn-available').textContent = e.available;
        $('earn-today').textContent = e.today;
        $('earn-pending').textContent = e.pending_withdrawals;
        $('earn-paid').textContent = e.paid_out;
        $('earn-share').textContent = pct(e.platform_share_bp);
        $('withdraw-amount').min = e.min_withdrawal;
        const rows = $('withdrawal-rows');
        rows.innerHTML = '';
        for (const x of w.withdrawals) row(rows, ['#' + x.id, String(x.amount), t('status.' + x.status), x.note || '', when(x.created_at)]);
      } catch (err) { say($('withdraw-status'), err.message, true); }
    }
    $('withdraw-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      // One key per request: a double submit or a retry is one withdrawal.
      const submit = ev.target.querySelector('button[type=submit]');
      submit.disabled = true;
      try {
        const x = await api('POST', base + '/withdrawals', { amount: Number($('withdraw-amount').value), idempotency_key: newKey() });
        say($('withdraw-status'), t('studio.money.requested_ok', { id: x.id, amount: x.amount }));
        load();
      } catch (err) { say($('withdraw-status'), err.message, true); }
      submit.disabled = false;
    });
    const link = $('statement-link');
    const updateLink = () => {
      const q = new URLSearchParams();
      if ($('statement-from').value) q.set('from', $('statement-from').value);
      if ($('statement-to').value) q.set('to', $('statement-to').value);
      link.href = base + '/statement.csv' + (q.toString() ? '?' + q : '');
    };
    $('statement-from').addEventListener('change', updateLink);
    $('statement-to').addEventListener('change', updateLink);

    const fans = await api('GET', base + '/fans');
    const tbody = $('tier-rows');
    for (const tier of fans.tiers) {
      const tr = row(tbody, [String(tier.tier)]);
      for (const [field, type] of [['name', 'text'], ['monthly_price', 'number']]) {
        const td = document.createElement('td');
        const input = document.createElement('input');
        input.type = type;
        input.value = tier[field];
        input.dataset.field = field;
        input.setAttribute('aria-label', t('studio.money.tier_field_' + field, { tier: tier.tier }));
        td.appendChild(input);
        tr.appendChild(td);
      }
    }
    $('tiers-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const tiers = [...tbody.children].map((tr, i) => ({
        tier: i + 1, name: tr.querySelector('[data-field=name]').value, monthly_price: Number(tr.querySelector('[data-field=monthly_price]').value),
      }));
      try { await api('PUT', base + '/membership-tiers', { tiers }); say($('tiers-status'), t('form.saved')); } catch (err) { say($('tiers-status'), err.message, true); }
    });
    $('medal-name').value = fans.medal_name;
    $('medal-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try { await api('PUT', base + '/medal', { name: $('medal-name').value }); say($('medal-status'), t('form.saved')); } catch (err) { say($('medal-status'), err.message, true); }
    });
    await load();
    setInterval(load, 3000);
  }

  async function adminMoneyPage() {
    await navUser();
    const status = $('status');
    const act = (fn) => async () => { try { await fn(); } catch (e) { say(status, e.message, true); } load(); };
    async function load() {
      try {
        const [tops, w] = await Promise.all([api('GET', '/api/admin/topups'), api('GET', '/api/admin/withdrawals')]);
        const trows = $('topup-rows');
        trows.innerHTML = '';
        for (const o of tops.topups) {
          row(trows, ['#' + o.id, o.username, o.package, String(o.coins), when(o.created_at)], [
            [t('admin.approve'), act(() => api('POST', '/api/admin/topups/' + o.id + '/approve')), 'approve'],
            [t('admin.reject'), act(() => api('POST', '/api/admin/topups/' + o.id + '/reject')), 'reject danger'],
          ]);
        }
        const wrows = $('withdrawal-rows');
        wrows.innerHTML = '';
        for (const x of w.withdrawals) {
          row(wrows, ['#' + x.id, x.channel, String(x.amount), when(x.created_at)], [
            [t('admin.approve'), act(() => api('POST', '/api/admin/withdrawals/' + x.id + '/approve', { note: t('admin.money.paid_note') })), 'approve'],
            [t('admin.reject'), act(async () => {
              const note = prompt(t('admin.money.reject_reason'));
              if (note !== null) await api('POST', '/api/admin/withdrawals/' + x.id + '/reject', { note });
            }), 'reject danger'],
          ]);
        }
      } catch (e) { say(status, e.message, true); }
    }
    $('grant-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const r = await api('POST', '/api/admin/wallets/grant', { username: $('grant-user').value, coins: Number($('grant-coins').value), reason: $('grant-reason').value });
        say(status, t('admin.money.granted', { user: r.username, balance: r.balance }));
      } catch (e) { say(status, e.message, true); }
    });
    $('share-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const v = $('share-percent').value;
      try {
        const r = await api('PUT', '/api/admin/channels/' + encodeURIComponent($('share-channel').value) + '/platform-share',
          { platform_share_bp: v === '' ? null : Math.round(Number(v) * 100) });
        say(status, t(r.override ? 'admin.money.share_saved' : 'admin.money.share_default_saved', { channel: $('share-channel').value, share: pct(r.platform_share_bp) }));
      } catch (e) { say(status, e.message, true); }
    });
    $('verify-button').addEventListener('click', async () => {
      const res = await fetch('/api/admin/ledger/verify', { credentials: 'same-origin' });
      const r = await res.json();
      $('verify-result').textContent = r.problems && r.problems.length > 0 ? r.problems.join('\n')
        : (r.error || t('admin.money.ledger_ok', { accounts: r.accounts, transactions: r.transactions }));
    });
    await load();
    setInterval(load, 5000);
  }

  const page = document.querySelector('[data-page]');
  if (page.dataset.page === 'wallet') walletPage();
  else if (page.dataset.page === 'studio-money') studioMoneyPage(page.dataset.slug);
  else if (page.dataset.page === 'admin-money') adminMoneyPage();
})();
