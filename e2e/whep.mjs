// Plays a channel over WHEP (WebRTC) in Chromium and reports what a viewer
// gets: video frames advancing, audio that is not silence (an AudioContext
// analyser on the received track), and the glass-to-glass delay read from
// the wall clock the publisher burns into each frame (see e2e/pdt.mjs).
// Usage: node e2e/whep.mjs BASE_URL SLUG SECONDS
// Prints "FIRST_FRAME ms", "SAMPLE glass_ms", "SRTP cipher", "AUDIO rms",
// "FRAMES n", "DONE".
import { launch, say } from './browser.mjs';

const [base, slug, seconds] = process.argv.slice(2);
const browser = await launch();
try {
  // The test's helper script is inline; Livehouse's CSP rightly forbids that.
  const page = await browser.newPage({ bypassCSP: true });
  page.on('pageerror', (e) => say('PAGE_ERROR ' + e.message));
  await page.goto(base + '/static/vendor/VENDOR.txt');
  await page.setContent(`<video id="v" muted autoplay playsinline></video>`);
  await page.addScriptTag({ path: new URL('./clock.js', import.meta.url).pathname });
  const firstFrame = await page.evaluate(async (url) => {
    const t0 = performance.now();
    const pc = new RTCPeerConnection();
    window.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (e) => stream.addTrack(e.track);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer.sdp });
    if (res.status !== 201) throw new Error('WHEP answered ' + res.status + ' ' + (await res.text()));
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    const v = document.getElementById('v');
    v.srcObject = stream;
    await v.play();
    window.frames = 0;
    const count = () => { window.frames++; v.requestVideoFrameCallback(count); };
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no video frame within 15 s')), 15000);
      v.requestVideoFrameCallback(() => { clearTimeout(timer); resolve(); });
    });
    v.requestVideoFrameCallback(count);
    const ac = new AudioContext();
    const audio = stream.getAudioTracks()[0];
    window.rms = -1;
    if (audio) {
      const an = ac.createAnalyser();
      an.fftSize = 2048;
      ac.createMediaStreamSource(new MediaStream([audio])).connect(an);
      const buf = new Float32Array(an.fftSize);
      window.rms = 0;
      setInterval(() => {
        an.getFloatTimeDomainData(buf);
        let s = 0;
        for (const x of buf) s += x * x;
        window.rms = Math.max(window.rms, Math.sqrt(s / buf.length));
      }, 100);
    }
    return performance.now() - t0;
  }, base + '/whep/' + slug);
  say('FIRST_FRAME ' + Math.round(firstFrame));
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    const glass = await page.evaluate(() => window.glassToGlassMs(document.getElementById('v')));
    say('SAMPLE ' + glass);
    await page.waitForTimeout(200);
  }
  // The SRTP cipher negotiated (AEAD_AES_*_GCM costs the server far less
  // per packet than AES_CM_128_HMAC_SHA1_80).
  const cipher = await page.evaluate(async () => {
    for (const r of (await window.pc.getStats()).values()) if (r.type === 'transport' && r.srtpCipher) return r.srtpCipher;
    return 'unknown';
  });
  say('SRTP ' + cipher);
  say('AUDIO ' + (await page.evaluate(() => window.rms)).toFixed(4));
  say('FRAMES ' + (await page.evaluate(() => window.frames)));
  say('DONE');
} catch (e) {
  say('FAIL ' + e.message.split('\n')[0]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
