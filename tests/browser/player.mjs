// A phone opening tapedeck's player in Debian's chromium (headless), driven
// by playwright-core. Started by tests/browser.rs, which runs the server and
// checks its log afterwards.
//
// Environment: TAPEDECK_URL (http://127.0.0.1:port), ALBUM ("Artist/Album"
// to browse into), SCREENSHOT (where to save a PNG), CHROMIUM (default
// /usr/bin/chromium).
//
// Prints one JSON line with what it saw; exits non-zero on any failed step.
import { chromium } from 'playwright-core';

const base = process.env.TAPEDECK_URL;
const album = (process.env.ALBUM || '').split('/');
const screenshot = process.env.SCREENSHOT;
if (!base || album.length < 2 || !screenshot) {
  console.error('player.mjs: set TAPEDECK_URL, ALBUM and SCREENSHOT');
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--autoplay-policy=no-user-gesture-required',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const seen = {};
try {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    colorScheme: 'dark',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  // A phone on a weak link: 64 KB/s, about twice the medium level's
  // 24 KB/s. The browser cannot have buffered the middle of the track
  // when it seeks there, so the seek must become a Range request.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: 64 * 1024, uploadThroughput: 64 * 1024,
  });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const playUrls = [];
  page.on('request', (r) => { if (r.url().includes('/play/')) playUrls.push(r.url()); });

  await page.goto(base + '/');
  seen.title = await page.title();
  check(seen.title.includes('tapedeck'), `page title ${seen.title}`);
  check(await page.$eval('link[rel=manifest]', (l) => l.href.endsWith('/manifest.webmanifest')), 'manifest link');

  // Library -> artist -> album, by tapping folder tiles.
  for (const name of album) {
    await page.locator('a.folder', { hasText: name }).first().tap();
    await page.waitForFunction((n) => document.querySelector('#crumbs [aria-current]')?.textContent === n, name);
  }
  await page.locator('button.track').first().waitFor();
  const tracks = await page.locator('button.track').count();
  check(tracks >= 2, `album lists ${tracks} tracks`);
  seen.crumbs = await page.locator('#crumbs a').allTextContents();

  // Tap the first track: it must start playing at the chosen default level.
  await page.locator('button.track').first().tap();
  await page.waitForFunction(() => document.getElementById('audio').currentTime > 0.5);
  seen.src = await page.$eval('#audio', (a) => a.currentSrc);
  check(/\/play\/.+\?quality=medium$/.test(seen.src), `default quality in ${seen.src}`);
  const meta = await page.evaluate(() => {
    const m = navigator.mediaSession.metadata;
    return m && { title: m.title, artist: m.artist, album: m.album, artwork: m.artwork.length };
  });
  seen.mediaSession = meta;
  check(meta && meta.title.length > 0, 'Media Session title set');
  check(meta.artwork > 0, 'Media Session artwork set');
  check((await page.title()).startsWith(meta.title), 'document title names the track');

  // Seek to the middle with the seek bar; playback must resume there.
  const duration = await page.evaluate(() => {
    const a = document.getElementById('audio');
    return isFinite(a.duration) ? a.duration : 0;
  });
  check(duration > 10, `duration ${duration}`);
  const mid = duration / 2;
  await page.$eval('#seek', (s, v) => {
    s.value = v;
    s.dispatchEvent(new Event('input'));
    s.dispatchEvent(new Event('change'));
  }, mid);
  await page.waitForFunction((m) => {
    const a = document.getElementById('audio');
    return !a.paused && a.currentTime > m + 0.5 && a.currentTime < m + 8;
  }, mid);
  seen.afterSeek = await page.$eval('#audio', (a) => a.currentTime);

  // Switch to Low: the same track plays from about the same place, at the
  // new URL, and the choice survives a reload.
  await page.selectOption('#quality', 'low');
  await page.waitForFunction(() => document.getElementById('audio').currentSrc.endsWith('?quality=low'));
  await page.waitForFunction((m) => {
    const a = document.getElementById('audio');
    return !a.paused && a.currentTime > m;
  }, mid);
  seen.lowSrc = await page.$eval('#audio', (a) => a.currentSrc);
  seen.afterSwitch = await page.$eval('#audio', (a) => a.currentTime);
  check(seen.lowSrc.replace('quality=low', 'quality=medium') === seen.src, 'same track at the new level');
  check(await page.evaluate(() => localStorage.getItem('tapedeck.quality')) === 'low', 'quality persisted');

  // Next track from the player bar.
  await page.locator('#next').tap();
  await page.waitForFunction((first) => {
    const a = document.getElementById('audio');
    return a.currentSrc !== first && a.currentTime > 0.3;
  }, seen.lowSrc);
  seen.nextSrc = await page.$eval('#audio', (a) => a.currentSrc);
  seen.playUrls = playUrls.length;

  // Star it from the player bar (the server's web user keeps it), and let
  // it play past half its 12 s: that counts as a play (Last.fm's rule).
  const starred = page.waitForResponse((r) => r.url().endsWith('/api/star') && r.status() === 204);
  await page.locator('#star').tap();
  await starred;
  check(await page.$eval('#star', (b) => b.getAttribute('aria-pressed')) === 'true', 'star pressed');
  const scrobble = await page.waitForResponse((r) => r.url().endsWith('/api/scrobble'), { timeout: 30_000 });
  check(scrobble.status() === 204, `scrobble answered ${scrobble.status()}`);
  seen.heardAtScrobble = await page.$eval('#audio', (a) => a.currentTime);
  check(seen.heardAtScrobble >= 6, `counted after ${seen.heardAtScrobble} s of 12`);

  // The home page lists it under Recently played and Starred; the first
  // track, heard for seconds of its 4 minutes, is not a play.
  await page.goto(base + '/#/browse/');
  await page.locator('#recent button.track').first().waitFor();
  seen.recent = await page.locator('#recent button.track .main div:first-child').allTextContents();
  seen.starred = await page.locator('#starred button.track .main div:first-child').allTextContents();
  check(seen.recent.length === 1 && seen.recent[0].includes('Second'), `recent: ${seen.recent}`);
  check(seen.starred.length === 1 && seen.starred[0].includes('Second'), `starred: ${seen.starred}`);
  // Unstar from the list.
  const unstarred = page.waitForResponse((r) => r.url().endsWith('/api/star') && r.status() === 204);
  await page.locator('#starred button.star').first().tap();
  await unstarred;
  check(await page.locator('#starred button.star').first().getAttribute('aria-pressed') === 'false', 'unstarred');

  await page.screenshot({ path: screenshot });
  check(pageErrors.length === 0, `no page errors: ${pageErrors.join('; ')}`);
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
