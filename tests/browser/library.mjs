// A manual check, not run by `cargo test`: walks a running tapedeck's whole
// library in chromium the way a phone would, opening every folder page and
// playing every track at every quality, with a seek to the middle each time.
// Prints one line per track and level and exits non-zero if any failed.
//
//   TAPEDECK_URL=http://127.0.0.1:8340 node tests/browser/library.mjs
//
// QUALITIES (default "original high medium low") narrows the levels.
import { chromium } from 'playwright-core';

const base = process.env.TAPEDECK_URL || 'http://127.0.0.1:8340';
const qualities = (process.env.QUALITIES || 'original high medium low').split(/\s+/);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true })).newPage();
page.setDefaultTimeout(120_000);
await page.goto(base + '/');

let failures = 0, plays = 0;
const queue = [''];
while (queue.length) {
  const path = queue.shift();
  await page.evaluate((p) => { location.hash = '#/browse/' + encodeURIComponent(p); }, path);
  await page.waitForFunction(() => document.querySelector('#view h1'));
  const listing = await page.evaluate(async (p) =>
    (await fetch('/api/browse/' + p.split('/').map(encodeURIComponent).join('/'))).json(), path);
  for (const d of listing.dirs) queue.push(d.path);
  const buttons = await page.locator('button.track').count();
  if (buttons !== listing.tracks.length) {
    console.log(`FAIL ${path}: page shows ${buttons} tracks, API ${listing.tracks.length}`);
    failures++;
  }
  for (let i = 0; i < listing.tracks.length; i++) {
    const t = listing.tracks[i];
    for (const q of qualities) {
      const started = Date.now();
      try {
        await page.selectOption('#quality', q);
        await page.locator('button.track').nth(i).click();
        await page.waitForFunction(({ path, q }) => {
          const a = document.getElementById('audio');
          // An original the browser cannot decode falls back to High.
          return a.currentSrc.includes(path.split('/').map(encodeURIComponent).join('/'))
            && (a.currentSrc.endsWith('quality=' + q) || (q === 'original' && a.currentSrc.endsWith('quality=high')))
            && a.currentTime > 0.3;
        }, { path: t.path, q });
        const mid = Math.floor((t.duration_s || 60) / 2);
        await page.evaluate((m) => { document.getElementById('audio').currentTime = m; }, mid);
        await page.waitForFunction((m) => {
          const a = document.getElementById('audio');
          return !a.paused && a.currentTime > m + 0.3 && a.currentTime < m + 10;
        }, mid);
        const session = await page.evaluate(() => navigator.mediaSession.metadata?.title);
        if (session !== t.title) throw new Error(`lock screen shows ${session}`);
        plays++;
        const fell = q === 'original' && (await page.$eval('#audio', (a) => a.currentSrc)).endsWith('quality=high');
        console.log(`ok   ${q.padEnd(8)} ${t.path} (seeked to ${mid} s, ${Date.now() - started} ms)${fell ? ' [browser cannot decode the original: fell back to high]' : ''}`);
      } catch (e) {
        failures++;
        console.log(`FAIL ${q.padEnd(8)} ${t.path}: ${e.message.split('\n')[0]}`);
      }
    }
  }
}
await page.evaluate(() => document.getElementById('audio').pause());
await browser.close();
console.log(`${plays} plays, ${failures} failures`);
process.exit(failures ? 1 : 0);
