// Channel emotes on the watch page: ":name:" in a message shows the
// channel's image for that name. The message stays text: render appends
// text nodes and <img> elements (never HTML made from what someone typed),
// and each image carries ":name:" as its alt and title, so copying,
// screen readers and history keep the words.
//
//   LHEmotes.load(slug)          fetch the channel's emotes (done on the watch page by itself)
//   LHEmotes.render(parent, text) append text to parent with emotes as images
(function () {
  'use strict';
  const known = new Map();      // name → url
  let loaded = false;           // the first list arrived (or failed)
  let loading = null;           // the load under way
  let current = '';             // the channel whose emotes these are
  let lastLoad = 0;
  // Messages rendered before the list arrived (or while it reloads): drawn
  // again once it does.
  let pending = [];
  const maxPending = 300;
  const reloadEvery = 60000 + Math.random() * 30000; // an unknown :name: reloads the list at most this often (spread out over viewers)
  const token = /:([A-Za-z0-9_]{2,24}):/g;

  // pieces splits text into strings and {name, url} for known emotes. An
  // unknown ":word:" stays text and its closing colon may open the next
  // one (":not:pog:" still finds ":pog:"). unknown says whether any
  // ":word:" was not a known emote.
  function pieces(text) {
    const out = [];
    let from = 0, m;
    out.unknown = false;
    token.lastIndex = 0;
    while ((m = token.exec(text)) !== null) {
      const url = known.get(m[1]);
      if (!url) { out.unknown = true; token.lastIndex = m.index + 1; continue; }
      if (m.index > from) out.push(text.slice(from, m.index));
      out.push({ name: m[1], url });
      from = token.lastIndex;
    }
    if (from < text.length) out.push(text.slice(from));
    return out;
  }

  // fill draws text into parent; it reports whether an unknown :word: was seen.
  function fill(parent, text) {
    parent.textContent = '';
    const ps = pieces(text);
    for (const p of ps) {
      if (typeof p === 'string') { parent.appendChild(document.createTextNode(p)); continue; }
      const img = document.createElement('img');
      img.className = 'emote';
      img.src = p.url;
      img.alt = ':' + p.name + ':';
      img.title = ':' + p.name + ':';
      img.draggable = false;
      // An emote deleted meanwhile: its words again.
      img.addEventListener('error', () => img.replaceWith(document.createTextNode(img.alt)));
      parent.appendChild(img);
    }
    return ps.unknown;
  }

  function render(parent, text) {
    text = String(text == null ? '' : text);
    const unknown = fill(parent, text);
    if (text.indexOf(':') === -1) return;
    // A name the list lacks may be an emote the owner just added.
    if (unknown && loaded && !loading && current && Date.now() - lastLoad > reloadEvery) load(current);
    if (!loaded || (unknown && loading)) {
      pending.push([parent, text]);
      if (pending.length > maxPending) pending.shift();
    }
  }

  function load(slug) {
    current = slug;
    lastLoad = Date.now();
    loading = (async () => {
      try {
        const res = await fetch('/api/channels/' + encodeURIComponent(slug) + '/emotes', { credentials: 'same-origin', cache: 'no-cache' });
        if (!res.ok) return;
        const data = await res.json();
        known.clear();
        for (const e of data.emotes || []) known.set(e.name, e.url);
      } catch (e) { /* no emotes: messages stay as typed */ } finally {
        loaded = true;
        loading = null;
        const again = pending;
        pending = [];
        for (const [parent, text] of again) if (parent.isConnected) fill(parent, text);
      }
    })();
    return loading;
  }

  window.LHEmotes = { load, render, pieces, get names() { return Array.from(known.keys()); } };

  const root = document.querySelector('main.watch');
  if (root && root.dataset.slug) load(root.dataset.slug);
})();
