"""Listening state through a client library (py-sonic) across a kill -9:
`before` scrobbles three plays, stars an album and saves a play queue;
tests/subsonic_clients.rs then kills the server with SIGKILL and starts it
again; `after` checks that the recent, frequent and starred album lists,
getStarred2 and getPlayQueue show all of it. Exits 1 at the first thing
that fails.

usage: python3 restart.py before|after BASE_URL USER PASSWORD
"""
import sys
import urllib.parse

import libsonic


def check(what, cond, detail=""):
    if not cond:
        sys.exit(f"FAIL {what}: {detail}")
    print(f"ok   {what}")


def main():
    phase, base, user, password = sys.argv[1:5]
    u = urllib.parse.urlsplit(base)
    c = libsonic.Connection(f"{u.scheme}://{u.hostname}", user, password, port=u.port,
                            appName="tapedeck-tests")
    arts = c.getArtists()["artists"]["index"]
    zoe = next(a for i in arts for a in i["artist"] if a["name"] == "Zoë")
    album = next(a for a in c.getArtist(zoe["id"])["artist"]["album"] if a["name"] == "First Light")
    songs = [s["id"] for s in c.getAlbum(album["id"])["album"]["song"]]
    if phase == "before":
        for s in songs[:3]:
            check(f"scrobble {s[:12]}", c.scrobble(s)["status"] == "ok")
        check("star the album", c.star(albumIds=[album["id"]])["status"] == "ok")
        check("savePlayQueue", c.savePlayQueue(songs, current=songs[1], position=4200)["status"] == "ok")
        return
    for kind in ("recent", "frequent", "starred"):
        ids = [a["id"] for a in c.getAlbumList2(kind)["albumList2"].get("album", [])]
        check(f"getAlbumList2 {kind} after kill -9", album["id"] in ids, ids)
    starred = c.getStarred2()["starred2"]
    check("getStarred2 after kill -9", [a["id"] for a in starred.get("album", [])] == [album["id"]], starred)
    q = c.getPlayQueue()["playQueue"]
    check("getPlayQueue after kill -9",
          q["current"] == songs[1] and int(q["position"]) == 4200
          and [e["id"] for e in q["entry"]] == songs, q)
    plays = [c.getSong(s)["song"].get("playCount") for s in songs[:3]]
    check("play counts after kill -9", plays == [1, 1, 1], plays)


main()
