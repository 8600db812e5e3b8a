// Livehouse's service worker: it shows the Web Push notifications the
// server sends ("a channel you follow went live") and opens the channel
// when one is clicked. Served at /sw.js so its scope is the whole site.
'use strict';

const texts = {
  en: { live: '{channel} is live', open: 'Watch now' },
  zh: { live: '{channel} 开播了', open: '立即观看' },
};

function words() {
  const l = (self.navigator && self.navigator.language) || 'en';
  return l.toLowerCase().startsWith('zh') ? texts.zh : texts.en;
}

self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  const w = words();
  const name = data.title || data.channel || 'Livehouse';
  const title = data.kind === 'live' ? w.live.replace('{channel}', name) : name;
  const url = typeof data.url === 'string' && data.url.startsWith('/') && !data.url.startsWith('//') ? data.url : '/';
  event.waitUntil(self.registration.showNotification(title, {
    body: data.channel ? '/c/' + data.channel : '',
    tag: data.kind === 'live' ? 'live-' + data.channel : undefined,
    data: { url },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || '/', self.location.origin).href;
  event.waitUntil((async () => {
    const all = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const c of all) {
      if (c.url === url && 'focus' in c) return c.focus();
    }
    return self.clients.openWindow(url);
  })());
});
