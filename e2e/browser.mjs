// Shared by the browser tests: Debian's Chromium, headless, with the flags
// this machine's closed network needs (no background connections).
import { chromium } from 'playwright-core';

// extraArgs: more Chromium flags (a fake camera, say).
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required', ...extraArgs],
  });
}

export const say = (msg) => console.log(msg);
