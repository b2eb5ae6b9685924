"""Validates tapedeck's Subsonic answers against the contract in the
team's copy of the specification (SPEC, default ../shared/subsonic beside
the repository): every XML answer against the Subsonic 1.16.1 XSD, after
removing the attributes and elements OpenSubsonic adds (the XSD has no
xs:any, so any addition fails it; an addition that is not in the
endpoint's OpenSubsonic schema is still an error), and every JSON answer
against the OpenSubsonic schema of its endpoint.

usage: python3 schemas.py BASE_URL USER PASSWORD
Prints one line per check and exits 1 when any failed.
"""
import hashlib
import json
import os
import pathlib
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import xmlschema
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = pathlib.Path(os.environ.get("SUBSONIC_SPEC", pathlib.Path(__file__).resolve().parents[3] / "shared" / "subsonic"))
OPENAPI = SPEC / "openapi"


def _retrieve(uri):
    # Every $ref in the OpenAPI files is a relative file path.
    path = pathlib.Path(uri.removeprefix("file://"))
    return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012)


REGISTRY = Registry(retrieve=_retrieve)


def json_errors(doc, method):
    """Errors of a JSON answer of `method` (None: an empty answer)."""
    if set(doc) != {"subsonic-response"}:
        return ["the top level must be exactly {'subsonic-response': ...}"]
    body = doc["subsonic-response"]
    if body.get("status") == "failed":
        path = OPENAPI / "schemas/SubsonicResponse/SubsonicFailureResponse.json"
    elif method is None:
        path = OPENAPI / "schemas/SubsonicResponse/SubsonicSuccessResponse.json"
    else:
        path = OPENAPI / f"endpoints/{method}/{method[0].upper() + method[1:]}SuccessResponse.json"
    schema = json.loads(path.read_text())
    schema["$id"] = path.as_uri()
    validator = Draft202012Validator(schema, registry=REGISTRY, format_checker=FormatChecker())
    out = []

    def walk(errors):
        for e in errors:
            if e.context:
                walk(e.context)
            else:
                out.append(f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")

    walk(validator.iter_errors(body))
    return out


XSD = xmlschema.XMLSchema(str(SPEC / "subsonic-rest-api-1.16.1.xsd"))
ALIAS = {"Response": "schemas/SubsonicResponse/SubsonicBaseResponse.json",
         "AlbumWithSongsID3": "schemas/AlbumID3WithSongs.json"}


def openapi_properties(xsd_type):
    """The property names OpenSubsonic allows on the entity the XSD calls
    `xsd_type` (following allOf)."""
    out = set()

    def walk(p):
        if not p.exists():
            return
        d = json.loads(p.read_text())
        out.update(d.get("properties", {}))
        for s in d.get("allOf", []):
            if "$ref" in s:
                walk((p.parent / s["$ref"]).resolve())
            else:
                out.update(s.get("properties", {}))

    walk(OPENAPI / ALIAS.get(xsd_type, f"schemas/{xsd_type}.json"))
    if xsd_type == "Response":
        # Answers of OpenSubsonic's own endpoints (checked, in JSON, by
        # their endpoint schemas).
        out.update({"openSubsonicExtensions", "playQueueByIndex"})
    return out


def strip(elem, xsd_elem, unknown):
    """Removes what the XSD does not declare from `elem`; names that are not
    OpenSubsonic additions either go to `unknown`."""
    t = xsd_elem.type
    if t.is_simple():
        return
    name = t.local_name or ""
    allowed = openapi_properties(name)
    tag = elem.tag.split("}")[-1]
    # OpenSubsonic's errata (docs/Responses/PlayQueue.md): `current` is a
    # song ID, a string, where the XSD says int. Checked by the JSON schema.
    if name == "PlayQueue":
        elem.attrib.pop("current", None)
    for a in [a for a in elem.attrib if a not in t.attributes]:
        del elem.attrib[a]
        if a not in allowed:
            unknown.append(f"{tag}/@{a} ({name})")
    kids = {e.name: e for e in t.content.iter_elements()} if t.has_complex_content() else {}
    for c in list(elem):
        if c.tag in kids:
            strip(c, kids[c.tag], unknown)
        else:
            elem.remove(c)
            n = c.tag.split("}")[-1]
            if n not in allowed:
                unknown.append(f"{tag}/<{n}> ({name})")
    if not t.mixed:
        if elem.text and not elem.text.strip():
            elem.text = None
        for c in elem:
            if c.tail and not c.tail.strip():
                c.tail = None


def xml_errors(text):
    root = ET.fromstring(text)
    if root.tag != "{http://subsonic.org/restapi}subsonic-response":
        return [f"the root must be {{http://subsonic.org/restapi}}subsonic-response, not {root.tag}"]
    unknown = []
    strip(root, XSD.elements["subsonic-response"], unknown)
    return [f"neither in the XSD nor in OpenSubsonic: {u}" for u in unknown] + [
        e.reason for e in XSD.iter_errors(root)]


class Server:
    def __init__(self, base, user, password):
        self.base, self.user, self.password = base.rstrip("/"), user, password

    def get(self, method, params, fmt):
        salt = os.urandom(6).hex()
        token = hashlib.md5((self.password + salt).encode()).hexdigest()
        q = {"u": self.user, "t": token, "s": salt, "v": "1.16.1", "c": "schemas", "f": fmt, **params}
        url = f"{self.base}/rest/{method}?{urllib.parse.urlencode(q, doseq=True)}"
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()


def main():
    if not (SPEC / "subsonic-rest-api-1.16.1.xsd").exists():
        sys.exit(f"no Subsonic specification at {SPEC} (set SUBSONIC_SPEC)")
    s = Server(*sys.argv[1:4])
    failures = 0

    def check(method, params=None, schema_method="same", expect_error=None):
        nonlocal failures
        params = params or {}
        sm = method if schema_method == "same" else schema_method
        for fmt in ("xml", "json"):
            status, ctype, body = s.get(method, params, fmt)
            problems = []
            if status != 200:
                problems.append(f"HTTP {status}")
            if fmt == "json":
                if not ctype.startswith("application/json"):
                    problems.append(f"Content-Type {ctype}")
                doc = json.loads(body)
                problems += json_errors(doc, sm)
                got = doc["subsonic-response"].get("error", {}).get("code")
            else:
                problems += xml_errors(body)
                e = ET.fromstring(body).find("{http://subsonic.org/restapi}error")
                got = None if e is None else int(e.get("code"))
            if got != expect_error:
                problems.append(f"error code {got}, expected {expect_error}")
            label = f"{method}({', '.join(f'{k}={v}' for k, v in params.items())}) {fmt}"
            if problems:
                failures += 1
                print(f"FAIL {label}")
                for p in problems[:10]:
                    print(f"    {p}")
            else:
                print(f"ok   {label}")

    def js(method, params=None):
        return json.loads(s.get(method, params or {}, "json")[2])["subsonic-response"]

    check("ping", schema_method=None)
    check("getLicense")
    check("getOpenSubsonicExtensions")
    check("getUser", {"username": s.user})
    check("getMusicFolders")
    check("getIndexes")
    check("getScanStatus")
    check("startScan")
    check("getArtists")
    check("getGenres")
    indexes = js("getIndexes")["indexes"]
    folder = indexes["index"][0]["artist"][0]["id"]
    check("getMusicDirectory", {"id": folder})
    artist = js("getArtists")["artists"]["index"][0]["artist"][0]["id"]
    check("getArtist", {"id": artist})
    album = js("getArtist", {"id": artist})["artist"]["album"][0]["id"]
    check("getAlbum", {"id": album})
    song = js("getAlbum", {"id": album})["album"]["song"][0]["id"]
    check("getSong", {"id": song})
    for kind in ("random", "newest", "alphabeticalByName", "alphabeticalByArtist", "frequent", "recent", "starred", "highest"):
        check("getAlbumList", {"type": kind})
        check("getAlbumList2", {"type": kind})
    check("getAlbumList2", {"type": "byYear", "fromYear": "1990", "toYear": "2030"})
    check("getAlbumList2", {"type": "byGenre", "genre": "Rock"})
    check("getRandomSongs", {"size": "5"})
    check("getSongsByGenre", {"genre": "Ambient"})
    check("search2", {"query": "o"})
    check("search3", {"query": "o"})
    check("search3", {"query": "", "songCount": "500"})
    check("getPlaylists")
    playlist = js("getPlaylists")["playlists"]["playlist"][0]["id"]
    check("getPlaylist", {"id": playlist})
    # Listening state: empty first, then with something in it.
    for method in ("getStarred", "getStarred2", "getNowPlaying", "getBookmarks", "getPlayQueue",
                   "getPlayQueueByIndex"):
        check(method)
    check("scrobble", {"id": song}, schema_method=None)
    check("scrobble", {"id": song, "submission": "false"}, schema_method=None)
    check("star", {"id": song, "albumId": album, "artistId": artist}, schema_method=None)
    check("setRating", {"id": song, "rating": "4"}, schema_method=None)
    check("setRating", {"id": album, "rating": "5"}, schema_method=None)
    check("savePlayQueue", {"id": song, "current": song, "position": "1000"}, schema_method=None)
    check("createBookmark", {"id": song, "position": "2000", "comment": "here"}, schema_method=None)
    for method in ("getStarred", "getStarred2", "getNowPlaying", "getBookmarks", "getPlayQueue"):
        check(method)
    check("savePlayQueueByIndex", {"id": [song, song], "currentIndex": "1"}, schema_method=None)
    check("getPlayQueueByIndex")
    check("getSong", {"id": song})
    check("getAlbum", {"id": album})
    check("getArtist", {"id": artist})
    check("getMusicDirectory", {"id": folder})
    for kind in ("frequent", "recent", "starred", "highest"):
        check("getAlbumList", {"type": kind})
        check("getAlbumList2", {"type": kind})
    check("createPlaylist", {"name": "Road trip", "songId": song})
    mine = js("getPlaylists")["playlists"]["playlist"][-1]["id"]
    check("updatePlaylist", {"playlistId": mine, "name": "Car", "comment": "c", "public": "true"},
          schema_method=None)
    check("getPlaylists")
    check("getPlaylist", {"id": mine})
    # check() calls twice (XML, JSON): createPlaylist made two.
    for p in js("getPlaylists")["playlists"]["playlist"]:
        if not p["readonly"]:
            assert js("deletePlaylist", {"id": p["id"]})["status"] == "ok", p
    assert all(p["readonly"] for p in js("getPlaylists")["playlists"]["playlist"])
    check("star", {"id": "tr-bm9wZQ"}, schema_method=None, expect_error=70)
    # Nothing to answer with (no internet lookups, no podcasts or radio):
    # empty answers of the right shape.
    for method in ("getInternetRadioStations", "getPodcasts", "getNewestPodcasts",
                   "getShares", "getLyrics"):
        check(method)
    for method in ("getArtistInfo", "getArtistInfo2", "getAlbumInfo",
                   "getSimilarSongs", "getSimilarSongs2"):
        check(method, {"id": album})
    # The OpenSubsonic schema has one answer for both.
    check("getAlbumInfo2", {"id": album}, schema_method="getAlbumInfo")
    check("getTopSongs", {}, expect_error=10)
    check("getTopSongs", {"artist": "Zoë"})
    check("getAlbum", {"id": "al-bm9wZQ"}, expect_error=70)
    check("getAlbum", {}, expect_error=10)
    check("getNoSuchThing", {}, schema_method=None, expect_error=0)
    print(f"{failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
