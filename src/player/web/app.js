// tapedeck's phone player: browse the library, play a folder as a queue,
// seek, pick a quality, star tracks; plays count for the server's web user
// (after half a track or 4 minutes, Last.fm's rule). No framework, no build
// step; every name from the library goes into the page as text, never as
// HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const audio = $('audio');
const QUALITIES = ['original', 'high', 'medium', 'low'];
const state = {
  quality: QUALITIES.includes(localStorage.getItem('tapedeck.quality'))
    ? localStorage.getItem('tapedeck.quality') : 'medium',
  queue: [],     // tracks (API objects) of the folder being played
  index: -1,     // position in queue
  listing: null, // the tracks shown, for the cached marks
  folderName: 'Library',
  user: null,    // whose plays and stars the server keeps (null: nobody)
  heard: 0,      // seconds of the current track actually played
  scrobbled: false,
};

const enc = (path) => path.split('/').map(encodeURIComponent).join('/');
const fmt = (s) => {
  if (!isFinite(s) || s < 0) return '0:00';
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
};
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

let toastTimer;
function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(r.status === 404 ? 'Not found' : `Server answered ${r.status}`);
  return r.json();
}

async function postJSON(url, body) {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`Server answered ${r.status}`);
}

// ---- stars and plays (the server's web user) ----
function starButton(t) {
  const b = el('button', { type: 'button', class: 'star', 'data-star': t.path, hidden: !state.user });
  paintStar(b, !!t.starred);
  b.addEventListener('click', () => setStar(t, !t.starred));
  return b;
}

function paintStar(b, on) {
  b.textContent = on ? '★' : '☆';
  b.setAttribute('aria-pressed', on ? 'true' : 'false');
  b.setAttribute('aria-label', on ? 'Unstar' : 'Star');
}

async function setStar(t, on) {
  try {
    await postJSON('/api/star', { path: t.path, starred: on });
  } catch (e) {
    toast(`Could not ${on ? 'star' : 'unstar'}: ${e.message}`);
    return;
  }
  // The same track may be shown twice (a list and the player bar).
  for (const x of [...(state.listing || []), ...state.queue]) if (x.path === t.path) x.starred = on;
  t.starred = on;
  for (const b of document.querySelectorAll('.star[data-star]')) if (b.dataset.star === t.path) paintStar(b, on);
  const cur = current();
  if (cur && cur.path === t.path) paintStar($('star'), on);
}

function countPlay() {
  const t = current();
  if (!t || state.scrobbled || !state.user) return;
  const d = duration();
  if (!d || state.heard < Math.min(d / 2, 240)) return;
  state.scrobbled = true;
  postJSON('/api/scrobble', { path: t.path }).catch((e) => toast(`Play not counted: ${e.message}`));
}

// ---- routing: #/browse/<path> and #/search/<words> keep Back working ----
function route() {
  const h = location.hash.slice(1);
  if (h.startsWith('/playlist/')) {
    showPlaylist(decodeURIComponent(h.slice(10)));
  } else if (h.startsWith('/search/')) {
    const q = decodeURIComponent(h.slice(8));
    $('q').value = q;
    showSearch(q);
  } else {
    showFolder(h.startsWith('/browse/') ? decodeURIComponent(h.slice(8)) : '');
  }
}
const browseHash = (path) => '#/browse/' + encodeURIComponent(path);

function crumbs(path) {
  const nav = $('crumbs');
  nav.replaceChildren(el('a', { href: browseHash('') }, 'Library'));
  let acc = '';
  for (const part of path ? path.split('/') : []) {
    acc = acc ? `${acc}/${part}` : part;
    nav.append(el('span', { 'aria-hidden': 'true' }, '›'), el('a', { href: browseHash(acc) }, part));
  }
  nav.lastChild.setAttribute('aria-current', 'page');
}

function coverImg(url, cls, alt = '') {
  if (!url) return el('div', { class: cls, 'aria-hidden': 'true' }, '♪');
  const img = el('img', { class: cls, src: url, alt, loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => img.replaceWith(el('div', { class: cls, 'aria-hidden': 'true' }, '♪')));
  return img;
}

function folderGrid(dirs) {
  return el('div', { class: 'grid' }, ...dirs.map((d) =>
    el('a', { class: 'folder', href: browseHash(d.path) }, coverImg(d.cover, 'art'), el('div', { class: 'name' }, d.name))));
}

function trackList(tracks, showAlbum, playlist = null) {
  const ol = el('ol', { class: 'tracks' });
  tracks.forEach((t, i) => {
    const sub = [t.artist, showAlbum ? t.album : null].filter(Boolean).join(' · ');
    const mark = el('span', { class: 'mark', title: 'Cached at this quality', hidden: !isCached(t) });
    const btn = el('button', { type: 'button', class: 'track', 'data-path': t.path, onclick: () => startQueue(tracks, i, playlist) },
      el('span', { class: 'no' }, t.track ? String(t.track) : '·'),
      el('span', { class: 'main' },
        el('div', { class: 'ellipsis' }, t.title, mark),
        sub ? el('div', { class: 'ellipsis muted' }, sub) : null),
      el('span', { class: 'dur' }, t.duration_s ? fmt(t.duration_s) : ''));
    ol.append(el('li', {}, btn, starButton(t)));
  });
  return ol;
}

const isCached = (t) => state.quality !== 'original' && !!(t.cached && t.cached[state.quality]);

function refreshMarks() {
  for (const btn of document.querySelectorAll('.track')) {
    const t = (state.listing || []).find((x) => x.path === btn.dataset.path);
    const mark = btn.querySelector('.mark');
    if (t && mark) mark.hidden = !isCached(t);
    const cur = state.queue[state.index];
    btn.classList.toggle('playing', !!cur && cur.path === btn.dataset.path);
  }
}

async function showFolder(path) {
  const view = $('view');
  crumbs(path);
  let data;
  try {
    data = await getJSON('/api/browse/' + enc(path));
  } catch (e) {
    view.replaceChildren(el('p', { class: 'empty' }, `${e.message}: ${path || 'Library'}`));
    return;
  }
  state.listing = data.tracks;
  state.folderName = data.name;
  if (!playing()) document.title = `${data.name} · tapedeck`;
  const parts = [];
  if (data.tracks.length) {
    const first = data.tracks[0];
    const total = data.tracks.reduce((s, t) => s + (t.duration_s || 0), 0);
    const artist = first.album_artist || first.artist;
    parts.push(el('section', { class: 'album' },
      coverImg(data.cover, 'cover', 'Cover'),
      el('div', {},
        el('h1', {}, first.album || data.name),
        artist ? el('div', {}, artist) : null,
        el('div', { class: 'muted' }, [first.year, `${data.tracks.length} track${data.tracks.length > 1 ? 's' : ''}`, fmt(total)].filter(Boolean).join(' · ')))));
  } else {
    parts.push(el('h1', {}, data.name));
  }
  if (data.dirs.length) parts.push(folderGrid(data.dirs));
  if (data.tracks.length) parts.push(trackList(data.tracks, false));
  if (data.playlists.length) {
    parts.push(el('h2', {}, 'Playlists'), el('div', { class: 'grid' }, ...data.playlists.map((p) =>
      el('a', { class: 'folder', href: '#/playlist/' + encodeURIComponent(p.path) },
        el('div', { class: 'art', 'aria-hidden': 'true' }, '☰'), el('div', { class: 'name' }, p.name.replace(/\.m3u8?$/i, ''))))));
  }
  if (!data.dirs.length && !data.tracks.length && !data.playlists.length) {
    parts.push(el('p', { class: 'empty' }, 'Nothing to play here.'));
  }
  if (!path) {
    // The home page: what the web user played and starred last.
    try {
      const mine = await getJSON('/api/listening');
      state.user = mine.user;
      state.listing = [...data.tracks, ...mine.recent, ...mine.starred];
      const lists = [];
      if (mine.recent.length) lists.push(el('section', { id: 'recent' }, el('h2', {}, 'Recently played'), trackList(mine.recent, true)));
      if (mine.starred.length) lists.push(el('section', { id: 'starred' }, el('h2', {}, 'Starred'), trackList(mine.starred, true)));
      parts.splice(1, 0, ...lists);
    } catch { /* the library still shows */ }
  }
  view.replaceChildren(...parts);
  refreshMarks();
}

async function showPlaylist(path) {
  const view = $('view');
  crumbs(path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
  let data;
  try {
    data = await getJSON('/api/playlists/' + enc(path));
  } catch (e) {
    view.replaceChildren(el('p', { class: 'empty' }, `${e.message}: ${path}`));
    return;
  }
  state.listing = data.tracks;
  if (!playing()) document.title = `${data.name} · tapedeck`;
  const total = data.tracks.reduce((s, t) => s + (t.duration_s || 0), 0);
  const parts = [el('h1', {}, data.name),
    el('div', { class: 'muted' }, [`${data.tracks.length} track${data.tracks.length === 1 ? '' : 's'}`, fmt(total),
      data.missing ? `${data.missing} missing` : null].filter(Boolean).join(' · ')),
    trackList(data.tracks, true, data.path)];
  const missing = data.entries.filter((e) => e.missing);
  if (missing.length) {
    parts.push(el('h2', {}, 'Missing'), el('ul', { class: 'muted' }, ...missing.map((e) => el('li', {}, `${e.title || e.location} (${e.missing})`))));
  }
  view.replaceChildren(...parts);
  refreshMarks();
}

async function showSearch(q) {
  const view = $('view');
  crumbs('');
  if (!q.trim()) return showFolder('');
  let data;
  try {
    data = await getJSON('/api/search?q=' + encodeURIComponent(q));
  } catch (e) {
    view.replaceChildren(el('p', { class: 'empty' }, e.message));
    return;
  }
  state.listing = data.tracks;
  const parts = [el('h1', {}, `Search: ${q}`)];
  if (data.dirs.length) parts.push(el('h2', {}, 'Folders'), folderGrid(data.dirs));
  if (data.tracks.length) parts.push(el('h2', {}, 'Tracks'), trackList(data.tracks, true));
  if (!data.dirs.length && !data.tracks.length) parts.push(el('p', { class: 'empty' }, 'No matches.'));
  if (data.truncated) parts.push(el('p', { class: 'muted' }, 'More matched; add a word to narrow it down.'));
  view.replaceChildren(...parts);
  refreshMarks();
}

// ---- playback ----
const playing = () => state.index >= 0 && !audio.paused;
const current = () => state.queue[state.index];

function startQueue(tracks, i, playlist = null) {
  state.queue = tracks.slice();
  state.playlist = playlist;
  playAt(i);
}

function playAt(i, startAt = 0, quality = state.quality) {
  if (i < 0 || i >= state.queue.length) return;
  const same = state.index === i && current() && state.playing && state.playing.path === current().path;
  state.index = i;
  const t = current();
  // A new track (not the same one at another level) starts a new play.
  if (!same) { state.heard = 0; state.scrobbled = false; }
  const star = $('star');
  star.hidden = !state.user;
  paintStar(star, !!t.starred);
  state.playing = { path: t.path, quality };
  // The playlist lets the server warm the next track of the same list.
  audio.src = `/play/${enc(t.path)}?quality=${quality}` + (state.playlist ? `&playlist=${encodeURIComponent(state.playlist)}` : '');
  if (startAt > 0) {
    audio.addEventListener('loadedmetadata', () => { audio.currentTime = startAt; }, { once: true });
  }
  audio.play().catch((e) => { if (e.name !== 'AbortError') toast(`Cannot play: ${e.message}`); });
  $('player').hidden = false;
  $('np-title').textContent = t.title;
  $('np-artist').textContent = [t.artist, t.album].filter(Boolean).join(' · ');
  const cover = $('np-cover');
  cover.hidden = !t.cover;
  if (t.cover) cover.src = t.cover;
  $('total').textContent = fmt(t.duration_s);
  $('seek').max = t.duration_s || 0;
  document.title = `${t.title}${t.artist ? ' – ' + t.artist : ''} · tapedeck`;
  setMediaSession(t);
  refreshMarks();
}

// The server announces the exact length of a transcode in progress, but
// the track's own duration is known sooner and is right for every level.
function duration() {
  return isFinite(audio.duration) && audio.duration > 0 ? audio.duration : (current()?.duration_s || 0);
}

function seekTo(s) {
  if (state.index < 0) return;
  audio.currentTime = Math.max(0, Math.min(s, duration() - 0.25));
}

function next() { if (state.index + 1 < state.queue.length) playAt(state.index + 1); }
function prev() {
  if (audio.currentTime > 3 || state.index === 0) seekTo(0);
  else playAt(state.index - 1);
}
function toggle() {
  if (state.index < 0) return;
  if (audio.paused) audio.play().catch(() => {}); else audio.pause();
}

function setMediaSession(t) {
  if (!('mediaSession' in navigator)) return;
  navigator.mediaSession.metadata = new MediaMetadata({
    title: t.title,
    artist: t.artist || '',
    album: t.album || '',
    artwork: t.cover ? [{ src: new URL(t.cover, location.href).href, sizes: '512x512' }] : [],
  });
}

function setPosition() {
  if (!('mediaSession' in navigator) || !navigator.mediaSession.setPositionState) return;
  const d = duration();
  if (!d) return;
  try {
    navigator.mediaSession.setPositionState({ duration: d, position: Math.min(audio.currentTime, d), playbackRate: audio.playbackRate || 1 });
  } catch { /* position past a not-yet-known duration */ }
}

if ('mediaSession' in navigator) {
  const handlers = {
    play: () => audio.play(),
    pause: () => audio.pause(),
    stop: () => { audio.pause(); seekTo(0); },
    previoustrack: prev,
    nexttrack: next,
    seekbackward: (d) => seekTo(audio.currentTime - (d.seekOffset || 10)),
    seekforward: (d) => seekTo(audio.currentTime + (d.seekOffset || 10)),
    seekto: (d) => seekTo(d.seekTime),
  };
  for (const [action, fn] of Object.entries(handlers)) {
    try { navigator.mediaSession.setActionHandler(action, fn); } catch { /* unsupported action */ }
  }
}

let dragging = false;
const seek = $('seek');
seek.addEventListener('input', () => { dragging = true; $('elapsed').textContent = fmt(+seek.value); });
seek.addEventListener('change', () => { dragging = false; seekTo(+seek.value); });

let lastPosition = 0, lastTick = null;
audio.addEventListener('timeupdate', () => {
  // Time heard: steps of normal playback, not seeks.
  const step = lastTick === null ? 0 : audio.currentTime - lastTick;
  lastTick = audio.currentTime;
  if (!audio.paused && step > 0 && step < 2) { state.heard += step; countPlay(); }
  if (!dragging) {
    seek.value = audio.currentTime;
    $('elapsed').textContent = fmt(audio.currentTime);
  }
  if (Math.abs(audio.currentTime - lastPosition) > 5) { lastPosition = audio.currentTime; setPosition(); }
});
audio.addEventListener('durationchange', () => {
  const d = duration();
  seek.max = d;
  $('total').textContent = fmt(d);
  setPosition();
});
const PLAY_PATH = 'M7 4v16l13-8z', PAUSE_PATH = 'M6 4h4v16H6zM14 4h4v16h-4z';
const syncPlay = () => {
  $('play-icon').setAttribute('d', audio.paused ? PLAY_PATH : PAUSE_PATH);
  $('play').setAttribute('aria-label', audio.paused ? 'Play' : 'Pause');
  if ('mediaSession' in navigator) navigator.mediaSession.playbackState = audio.paused ? 'paused' : 'playing';
  setPosition();
};
audio.addEventListener('play', syncPlay);
audio.addEventListener('pause', syncPlay);
audio.addEventListener('seeked', setPosition);
audio.addEventListener('ended', () => {
  const t = current();
  if (t && state.quality !== 'original') { t.cached = { ...t.cached, [state.quality]: true }; refreshMarks(); }
  next();
});
audio.addEventListener('error', () => {
  if (state.index < 0 || !audio.getAttribute('src')) return;
  const t = current();
  // Some browsers cannot decode some originals (Chrome and ALAC, say):
  // the MP3 at High plays everywhere.
  if (state.playing && state.playing.path === t.path && state.playing.quality === 'original') {
    toast(`This browser cannot play the original of “${t.title}”; playing High`);
    playAt(state.index, audio.currentTime || 0, 'high');
    return;
  }
  toast(`Could not play “${t.title}”; skipping`);
  setTimeout(next, 1500);
});

$('play').addEventListener('click', toggle);
$('star').addEventListener('click', () => { const t = current(); if (t) setStar(t, !t.starred); });
audio.addEventListener('seeking', () => { lastTick = null; });
audio.addEventListener('emptied', () => { lastTick = null; });
$('next').addEventListener('click', next);
$('prev').addEventListener('click', prev);

const qsel = $('quality');
qsel.value = state.quality;
qsel.addEventListener('change', () => {
  state.quality = qsel.value;
  localStorage.setItem('tapedeck.quality', state.quality);
  refreshMarks();
  // Carry on where we were, at the new level.
  if (state.index >= 0) {
    const at = audio.currentTime, wasPlaying = !audio.paused;
    playAt(state.index, at);
    if (!wasPlaying) audio.pause();
  }
});

let searchTimer;
$('q').addEventListener('input', (e) => {
  clearTimeout(searchTimer);
  const q = e.target.value;
  searchTimer = setTimeout(() => {
    location.hash = q.trim() ? '#/search/' + encodeURIComponent(q) : browseHash('');
  }, 300);
});
$('search').addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(searchTimer);
  const q = $('q').value;
  location.hash = q.trim() ? '#/search/' + encodeURIComponent(q) : browseHash('');
  $('q').blur();
});

document.addEventListener('keydown', (e) => {
  if (e.target.closest('input, select, textarea') || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === ' ' && !e.target.closest('button, a')) { e.preventDefault(); toggle(); }
  else if (e.key === 'ArrowRight') seekTo(audio.currentTime + 10);
  else if (e.key === 'ArrowLeft') seekTo(audio.currentTime - 10);
  else if (e.key === 'n' || e.key === 'N') next();
  else if (e.key === 'p' || e.key === 'P') prev();
  else if ((e.key === 's' || e.key === 'S') && current() && state.user) setStar(current(), !current().starred);
  else if (e.key === '/') { e.preventDefault(); $('q').focus(); }
});

window.addEventListener('hashchange', route);
// Without a music directory the server plays its demo library: say how to
// give it real music, until dismissed.
getJSON('/api/version').then((v) => {
  if (!v.demo || localStorage.getItem('tapedeck.demoDismissed')) return;
  const notice = el('div', { class: 'notice', role: 'note' },
    el('span', {}, 'demo library: point ', el('code', {}, '--music'), ' at your music'),
    el('button', { type: 'button', 'aria-label': 'Dismiss', title: 'Dismiss', onclick: () => {
      notice.remove();
      localStorage.setItem('tapedeck.demoDismissed', '1');
    } }, '×'));
  document.body.insertBefore(notice, $('view'));
}).catch(() => {});
getJSON('/api/listening').then((mine) => {
  state.user = mine.user;
  for (const b of document.querySelectorAll('.star')) b.hidden = !state.user || (b.id === 'star' && state.index < 0);
}).catch(() => {});
route();
