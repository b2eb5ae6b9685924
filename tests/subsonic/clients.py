"""What a phone app does on first connect, driven by two Subsonic client
libraries from PyPI against a running tapedeck: py-sonic (POSTs every call
as a form, token login, XML-era API) and py-opensonic (OpenSubsonic, typed
answers, API key login, Range). Exits 1 at the first thing that fails.

usage: python3 clients.py BASE_URL USER PASSWORD API_KEY
"""
import asyncio
import sys
import urllib.parse

import libopensonic
import libsonic


def check(what, cond, detail=""):
    if not cond:
        sys.exit(f"FAIL {what}: {detail}")
    print(f"ok   {what}")


def first_connect_pysonic(host, port, user, password):
    c = libsonic.Connection(host, user, password, port=port, appName="tapedeck-tests")
    check("py-sonic ping", c.ping() is True)
    folders = c.getMusicFolders()["musicFolders"]["musicFolder"]
    check("py-sonic getMusicFolders", folders[0]["id"] == 1, folders)
    idx = c.getIndexes()["indexes"]
    check("py-sonic getIndexes", len(idx["index"]) > 0, idx)
    arts = c.getArtists()["artists"]["index"]
    names = [a["name"] for i in arts for a in i["artist"]]
    check("py-sonic getArtists", "Zoë" in names, names)
    zoe = next(a for i in arts for a in i["artist"] if a["name"] == "Zoë")
    albums = c.getArtist(zoe["id"])["artist"]["album"]
    album = c.getAlbum(albums[0]["id"])["album"]
    check("py-sonic getAlbum", len(album["song"]) > 0, album)
    s3 = c.search3("breeze")["searchResult3"]
    check("py-sonic search3", s3["song"][0]["title"] == "Breeze", s3)
    cover_id = next(a["coverArt"] for a in albums if "coverArt" in a)
    img = c.getCoverArt(cover_id, size=8)
    data = img.read()
    check("py-sonic getCoverArt", img.headers["Content-Type"] == "image/jpeg" and data[:2] == b"\xff\xd8")
    song = album["song"][0]["id"]
    whole = c.stream(song).read()
    check("py-sonic stream", len(whole) > 1000, len(whole))
    ranged = libsonic.Connection(host, user, password, port=port, appName="tapedeck-tests",
                                 customHeaders={"Range": "bytes=0-99"})
    part = ranged.stream(song)
    body = part.read()
    check("py-sonic stream with Range", part.status == 206 and body == whole[:100], part.status)


def first_connect_opensonic(host, port, api_key):
    conn = libopensonic.Connection(host, api_key=api_key, port=port, app_name="tapedeck-tests")
    try:
        check("py-opensonic ping (apiKey)", conn.ping())
        names = [e.name for e in conn.get_open_subsonic_extensions()]
        check("py-opensonic extensions", "apiKeyAuthentication" in names, names)
        idx = conn.get_indexes()
        check("py-opensonic getIndexes", idx.last_modified > 0 and len(idx.index) > 0)
        arts = conn.get_artists()
        artist = [a for i in arts.index for a in i.artist if a.name == "Zoë"][0]
        full = conn.get_artist(artist.id)
        album = conn.get_album(full.album[0].id)
        check("py-opensonic getAlbum", len(album.song) > 0 and album.song[0].sampling_rate == 44100)
        s3 = conn.search3("zoe")
        check("py-opensonic search3", len(s3.album) == 2, s3)
        cover = next(a.cover_art for a in full.album if a.cover_art)
        img = conn.get_cover_art(cover, size=8)
        check("py-opensonic getCoverArt", img.status == 200)
        st = conn.stream(album.song[0].id, byte_range="bytes=0-99")
        body = asyncio.run_coroutine_threadsafe(st.read(), conn._loop).result()
        check("py-opensonic stream with Range", st.status == 206 and len(body) == 100,
              (st.status, len(body)))
    finally:
        conn.cleanup()


def main():
    base, user, password, api_key = sys.argv[1:5]
    u = urllib.parse.urlparse(base)
    host = f"{u.scheme}://{u.hostname}"
    first_connect_pysonic(host, u.port, user, password)
    first_connect_opensonic(host, u.port, api_key)
    print("all ok")


if __name__ == "__main__":
    main()
