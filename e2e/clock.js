// Loaded into a test page (page.addScriptTag({ path })): reads the wall
// clock a publisher burned into the top 16 rows of each frame (milliseconds
// mod 2^32 as 32 boxes of 10 px, white = 1; see clockSource in
// internal/app/pdt_test.go) and returns how long ago the displayed frame
// was captured: the glass-to-glass delay.
window.glassToGlassMs = function (video) {
  let c = window.__clockCanvas;
  if (!c) {
    c = window.__clockCanvas = document.createElement('canvas');
    c.width = 320;
    c.height = 16;
  }
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, video.videoWidth, 16, 0, 0, 320, 16);
  const px = ctx.getImageData(0, 8, 320, 1).data;
  let clock = 0;
  for (let i = 0; i < 32; i++) {
    const j = (i * 10 + 5) * 4;
    if ((px[j] + px[j + 1] + px[j + 2]) / 3 > 128) clock += 2 ** i;
  }
  return ((Date.now() % 2 ** 32) - clock + 2 ** 32) % 2 ** 32;
};
