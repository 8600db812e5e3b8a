// Home: live channels as a grid (followed first, then by viewers), the
// others below; search by title, tag or streamer; categories.
(function () {
  'use strict';
  const { $, t, api, navUser, fmtNumber } = window.Livehouse;
  const params = new URLSearchParams(location.search);

  function card(c) {
    const li = document.createElement('li');
    li.className = 'card-item' + (c.live ? ' live' : '');
    li.dataset.slug = c.slug;
    const a = document.createElement('a');
    a.href = '/c/' + encodeURIComponent(c.slug);
    const pic = document.createElement('div');
    pic.className = 'thumb';
    if (c.picture) {
      const img = document.createElement('img');
      img.src = c.picture;
      img.alt = '';
      img.loading = 'lazy';
      pic.appendChild(img);
    } else {
      pic.textContent = (c.title || c.slug).slice(0, 1).toUpperCase();
    }
    if (c.live) {
      const badge = document.createElement('span');
      badge.className = 'badge live';
      badge.textContent = t('watch.live_badge');
      const viewers = document.createElement('span');
      viewers.className = 'viewers';
      viewers.textContent = t('watch.viewers', { n: fmtNumber(c.viewers) });
      pic.append(badge, viewers);
    }
    const title = document.createElement('span');
    title.className = 'title';
    title.textContent = c.title;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = [c.streamer, c.category].filter(Boolean).join(' · ');
    a.append(pic, title, meta);
    if (!c.live && c.next_stream) { // the channel's schedule (schedule.next)
      const next = document.createElement('span');
      next.className = 'next-stream';
      const when = new Intl.DateTimeFormat(window.Livehouse.lang, { weekday: 'short', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
      next.textContent = t('schedule.next', { when: when.format(new Date(c.next_stream.starts_at)), title: c.next_stream.title });
      a.appendChild(next);
    }
    if (c.followed) {
      const f = document.createElement('span');
      f.className = 'followed';
      f.textContent = t('home.followed');
      a.appendChild(f);
    }
    li.appendChild(a);
    return li;
  }

  async function load() {
    const q = new URLSearchParams();
    if (params.get('q')) q.set('q', params.get('q'));
    if (params.get('category')) q.set('category', params.get('category'));
    const data = await api('GET', '/api/directory' + (q.toString() ? '?' + q : ''));
    const live = data.channels.filter((c) => c.live);
    const offline = data.channels.filter((c) => !c.live);
    $('grid').replaceChildren(...live.map(card));
    $('offline-grid').replaceChildren(...offline.map(card));
    // A search that found nothing says so (not "nobody is live") and offers
    // the way back; with only offline matches, those are the answer.
    const searched = params.get('q');
    $('empty').hidden = live.length > 0 || !!searched;
    $('empty-search').hidden = !searched || data.channels.length > 0;
    if (searched) $('empty-search-text').textContent = t('empty.search_none', { q: searched });
    $('offline-title').hidden = offline.length === 0;
    $('grid-title').textContent = params.get('q') ? t('home.results', { q: params.get('q') })
      : params.get('category') ? params.get('category') : t('home.live_now');
    const cats = $('categories');
    const all = document.createElement('a');
    all.href = '/';
    all.textContent = t('home.all');
    if (!params.get('category')) all.setAttribute('aria-current', 'page');
    const links = [all];
    for (const c of data.categories) {
      const a = document.createElement('a');
      a.href = '/?category=' + encodeURIComponent(c.name);
      a.textContent = c.live ? t('home.category_live', { name: c.name, n: c.live }) : c.name;
      if (params.get('category') === c.name) a.setAttribute('aria-current', 'page');
      links.push(a);
    }
    cats.replaceChildren(...links);
  }

  $('search-q').value = params.get('q') || '';
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = $('search-q').value.trim();
    location.href = q ? '/?q=' + encodeURIComponent(q) : '/';
  });
  navUser();
  load();
  setInterval(load, 15000); // viewers and new live channels, without a reload
})();
