// Watch page layout: on a phone (the CSS decides: ≤ 480 px wide or under
// 480 px high) gifts, memberships and the overlay settings live in a bottom
// sheet, #room-drawer, opened by the "Gifts" button in the chat input row or
// the ⚙ button in the chat head. Closed by default; Escape, the × button and
// a tap on the backdrop close it; focus moves into it and back to the button
// that opened it, and Tab stays inside while it is open. On a desktop the
// openers are not shown and the same content sits in the chat column.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const drawer = $('room-drawer');
  if (!drawer) return;
  const backdrop = $('drawer-backdrop');
  const openers = [$('drawer-gifts'), $('drawer-settings')];
  const settings = drawer.querySelector('.dm-settings');
  let opener = null;

  const isOpen = () => drawer.classList.contains('open');
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const focusables = () => [...drawer.querySelectorAll('button, a[href], input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
    .filter((el) => !el.disabled && visible(el));

  function open(from) {
    opener = from;
    drawer.classList.add('open');
    drawer.setAttribute('role', 'dialog');
    backdrop.hidden = false;
    for (const b of openers) if (b) b.setAttribute('aria-expanded', 'true');
    // Gifts first from the gift button; the overlay settings, unfolded, from ⚙.
    let first = null;
    if (from === $('drawer-settings')) {
      settings.open = true;
      first = settings.querySelector('summary');
    } else if (!$('gift-bar').hidden) {
      first = $('gift-bar').querySelector('button');
    }
    // The sheet slides in; focus once it is visible (visibility switches at once).
    (first || $('drawer-close')).focus({ preventScroll: true });
  }

  function close() {
    if (!isOpen()) return;
    drawer.classList.remove('open');
    drawer.setAttribute('role', 'region');
    backdrop.hidden = true;
    for (const b of openers) if (b) b.setAttribute('aria-expanded', 'false');
    if (opener && visible(opener)) opener.focus({ preventScroll: true });
    opener = null;
  }

  for (const b of openers) {
    if (!b) continue;
    b.addEventListener('click', () => (isOpen() ? close() : open(b)));
  }
  $('drawer-close').addEventListener('click', close);
  backdrop.addEventListener('click', close);
  document.addEventListener('keydown', (e) => {
    if (!isOpen()) return;
    if (e.target.closest && e.target.closest('dialog')) return; // the gift confirmation handles its own keys
    if (e.key === 'Escape') { e.preventDefault(); close(); return; }
    if (e.key !== 'Tab') return;
    const f = focusables();
    if (!f.length) return;
    const i = f.indexOf(document.activeElement);
    if (e.shiftKey && (i <= 0)) { f[f.length - 1].focus(); e.preventDefault(); }
    else if (!e.shiftKey && (i === -1 || i === f.length - 1)) { f[0].focus(); e.preventDefault(); }
  });
  // The message list keeps its newest line in view when the layout around
  // it changes (the gift bar arriving, the window or the drawer resizing),
  // unless the viewer has scrolled up to read.
  const list = $('chat-list');
  // Only the viewer unpins it: a scroll event may also come from the page
  // itself, measured after the layout changed (the list at its end a moment
  // ago, no longer after shrinking), and must not count as scrolling up.
  let pinned = true;
  let touched = 0, holding = false;
  const touch = () => { touched = Date.now(); };
  for (const ev of ['wheel', 'touchmove', 'keydown']) list.addEventListener(ev, touch, { passive: true });
  list.addEventListener('pointerdown', () => { holding = true; touch(); });
  window.addEventListener('pointerup', () => { if (holding) { holding = false; touch(); } });
  list.addEventListener('scroll', () => {
    if (list.scrollHeight - list.scrollTop - list.clientHeight < 24) pinned = true;
    else if (holding || Date.now() - touched < 1000) pinned = false;
  }, { passive: true });
  if (window.ResizeObserver) {
    // The list's own box, and each line's (a line grows when a late web font
    // or an emoji arrives and wraps it).
    const ro = new ResizeObserver(() => { if (pinned) list.scrollTop = list.scrollHeight; });
    ro.observe(list);
    new MutationObserver((changes) => {
      for (const c of changes) {
        for (const n of c.addedNodes) if (n.nodeType === 1) ro.observe(n);
        for (const n of c.removedNodes) if (n.nodeType === 1) ro.unobserve(n);
      }
    }).observe(list, { childList: true });
  }

  // Grown past the phone size while open: the content is back in the chat column.
  window.addEventListener('resize', () => { if (isOpen() && !openers.some((b) => b && visible(b))) close(); });
})();
