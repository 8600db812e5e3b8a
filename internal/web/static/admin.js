// Admin console pages: channels (disable, transfer), the platform's gift
// catalog, platform settings. (Users and money have their own scripts.)
(function () {
  'use strict';
  const { $, t, api, say, navUser, fmtTime, row } = window.Livehouse;

  async function channelsPage() {
    await navUser();
    const status = $('status');
    async function load() {
      try {
        const data = await api('GET', '/api/admin/channels?q=' + encodeURIComponent($('q').value));
        const rows = $('channel-rows');
        rows.replaceChildren();
        for (const c of data.channels) {
          const toggle = async () => {
            try { await api('POST', '/api/admin/channels/' + encodeURIComponent(c.slug), { disabled: !c.disabled }); load(); } catch (e) { say(status, e.message, true); }
          };
          const transfer = async () => {
            const owner = prompt(t('admin.channels.transfer_to'));
            if (!owner) return;
            try {
              await api('POST', '/api/admin/channels/' + encodeURIComponent(c.slug), { owner });
              say(status, t('admin.channels.transferred', { slug: c.slug, owner }));
              load();
            } catch (e) { say(status, e.message, true); }
          };
          const state = c.disabled ? t('admin.channels.disabled') : (c.live ? t('watch.live_badge') : t('admin.users.ok'));
          row(rows, [c.slug, c.title, c.owner || t('admin.channels.platform'), state], [
            [c.disabled ? t('admin.channels.enable') : t('admin.channels.disable'), toggle, 'toggle' + (c.disabled ? '' : ' danger')],
            [t('admin.channels.transfer'), transfer, 'transfer'],
          ]).dataset.slug = c.slug;
        }
      } catch (e) { say(status, e.message, true); }
    }
    $('channel-search').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
    load();
  }

  async function giftsPage() {
    await navUser();
    const status = $('status');
    const local = (v) => (v ? new Date(v).toISOString() : undefined);
    async function load() {
      const data = await api('GET', '/api/admin/gifts');
      const rows = $('gift-rows');
      rows.replaceChildren();
      for (const g of data.gifts) {
        const edit = () => {
          $('g-id').value = g.id; $('g-icon').value = g.icon; $('g-name').value = g.name;
          $('g-price').value = g.price; $('g-tier').value = g.tier; $('g-trial').checked = !!g.trial;
          $('g-id').readOnly = true;
        };
        const retire = async () => {
          if (!confirm(t('admin.gifts.retire_confirm', { name: g.name }))) return;
          try { await api('DELETE', '/api/admin/gifts/' + encodeURIComponent(g.id)); load(); } catch (e) { say(status, e.message, true); }
        };
        const window_ = [g.available_from && fmtTime(g.available_from), g.available_until && fmtTime(g.available_until)].filter(Boolean).join(' – ');
        row(rows, [g.id, g.icon, g.name + (g.trial ? ' · ' + t('admin.gifts.trial') : ''), String(g.price), String(g.tier), window_ || t('admin.gifts.always')], [
          [t('admin.gifts.edit'), edit, 'edit'],
          [t('admin.gifts.retire'), retire, 'retire danger'],
        ]).dataset.gift = g.id;
      }
    }
    $('gift-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const g = {
        id: $('g-id').value.trim(), icon: $('g-icon').value.trim(), name: $('g-name').value.trim(),
        price: Number($('g-price').value), tier: Number($('g-tier').value), trial: $('g-trial').checked,
        available_from: local($('g-from').value), available_until: local($('g-until').value),
      };
      const editing = $('g-id').readOnly;
      try {
        if (editing) await api('PUT', '/api/admin/gifts/' + encodeURIComponent(g.id), g);
        else await api('POST', '/api/admin/gifts', g);
        say(status, t('form.saved'));
        $('gift-form').reset();
        $('g-id').readOnly = false;
        load();
      } catch (e) { say(status, e.message, true); }
    });
    load().catch((e) => say(status, e.message, true));
  }

  async function settingsPage() {
    await navUser();
    const status = $('status');
    const fields = { 'lim-writes-account': 'writes_per_account_per_minute', 'lim-writes-ip': 'writes_per_ip_per_minute',
      'lim-signups': 'signups_per_ip_per_hour', 'lim-logins': 'logins_per_ip_per_minute',
      'lim-room-conns': 'room_connections_per_ip' };
    function show(s) {
      $('open-streaming').checked = s.open_streaming;
      for (const [id, key] of Object.entries(fields)) {
        $(id).value = s.rate_limits[key] || '';
        $(id).placeholder = t('admin.settings.in_force', { n: s.rate_limits_in_force[key] });
      }
    }
    show(await api('GET', '/api/admin/settings'));
    $('settings-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const limits = {};
      for (const [id, key] of Object.entries(fields)) limits[key] = Number($(id).value) || 0;
      try {
        show(await api('PUT', '/api/admin/settings', { open_streaming: $('open-streaming').checked, rate_limits: limits }));
        say(status, t('form.saved'));
      } catch (e) { say(status, e.message, true); }
    });
    const share = await api('GET', '/api/admin/platform-share');
    $('default-share').value = share.set_by_admin ? share.platform_share_bp / 100 : '';
    $('default-share').placeholder = t('admin.settings.share_flag_value', { n: share.platform_share_bp / 100 });
    $('share-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const v = $('default-share').value;
      try {
        await api('PUT', '/api/admin/platform-share', { platform_share_bp: v === '' ? null : Math.round(Number(v) * 100) });
        say(status, t('form.saved'));
      } catch (e) { say(status, e.message, true); }
    });
  }

  async function reportsPage() {
    await navUser();
    const status = $('status');
    async function load() {
      const data = await api('GET', '/api/admin/reports?status=open');
      const rows = $('report-rows');
      rows.replaceChildren();
      for (const rep of data.reports) {
        const resolve = (st) => async () => {
          try { await api('POST', '/api/reports/' + rep.id, { status: st }); say(status, t('form.saved')); load(); } catch (e) { say(status, e.message, true); }
        };
        row(rows, [rep.target, rep.reason, rep.reporter, fmtTime(rep.created_at)], [
          [t('studio.report_done'), resolve('actioned'), 'report-done'],
          [t('studio.report_dismiss'), resolve('dismissed'), 'report-dismiss'],
        ]);
      }
    }
    load().catch((e) => say(status, e.message, true));
    setInterval(() => load().catch(() => {}), 10000);
  }

  const pages = { 'admin-channels': channelsPage, 'admin-gifts': giftsPage, 'admin-settings': settingsPage, 'admin-reports': reportsPage };
  const page = document.querySelector('[data-page]');
  if (page && pages[page.dataset.page]) pages[page.dataset.page]();
})();
