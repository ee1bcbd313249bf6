"""Says which platform a link leads to and what it points at there (channel, invite, room, ...).

Nothing is fetched: the platform comes from the host and the URL's shape, and for self-hosted
Rocket.Chat and Hoop servers also from the words just before the link (`context_flags`).
Telegram, Matrix, XMPP, TamTam, Threema, WhatsApp, Discord, MeWe and Hoop links are rewritten to
their platform's canonical form; other hosts are looked up in the paste, archive and file-host
tables, and `.onion` hosts are onion sites.  `links` does the extraction and URL normalisation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

# (normalized_url, platform, kind, target) of one link.
Analysis = tuple[str, str, str, str | None]

# Hosts (without "www.") whose subdomains belong to them too, and the platform they are.
_HOSTS: dict[str, str] = {
    **dict.fromkeys(("t.me", "telegram.me", "telegram.dog"), "telegram"),
    **dict.fromkeys(("matrix.to", "riot.im", "app.element.io"), "matrix"),
    **dict.fromkeys(("tt.me", "tamtam.chat"), "tamtam"),
    "threema.id": "threema",
    **dict.fromkeys(("hoop.photo", "hoopmessenger.com"), "hoop"),
    "mewe.com": "mewe",
    **dict.fromkeys(("whatsapp.com", "wa.me"), "whatsapp"),
    **dict.fromkeys(("discord.gg", "discord.com", "discordapp.com"), "discord"),
    **dict.fromkeys(
        ("justpaste.it", "pastebin.com", "paste.ee", "ghostbin.com", "ghostbin.co",
         "controlc.com", "rentry.co", "rentry.org", "hastebin.com", "dpaste.org", "dpaste.com",
         "privatebin.net", "pastelink.net", "telegra.ph", "graph.org", "notes.io"),
        "paste",
    ),
    **dict.fromkeys(
        ("archive.org", "archive.today", "archive.ph", "archive.is", "archive.li", "archive.vn",
         "archive.fo", "archive.md", "ghostarchive.org", "webcitation.org"),
        "archive",
    ),
    **dict.fromkeys(
        ("mediafire.com", "mega.nz", "mega.co.nz", "drive.google.com", "dropbox.com",
         "dropboxusercontent.com", "files.fm", "gofile.io", "anonfiles.com", "uptobox.com",
         "4shared.com", "zippyshare.com", "ufile.io", "top4top.io", "top4top.net", "file.io",
         "sendspace.com", "wetransfer.com", "we.tl", "pixeldrain.com", "krakenfiles.com",
         "workupload.com", "catbox.moe", "1fichier.com", "bayfiles.com", "1drv.ms", "yadi.sk",
         "disk.yandex.ru", "terabox.com"),
        "filehost",
    ),
}  # fmt: skip
# The vendor's own sites under rocket.chat are web pages, not chat servers.
_ROCKET_VENDOR = frozenset(
    {"", "www", "docs", "developer", "forums", "go", "cloud", "releases", "support", "status"}
)
_FILEHOST_LABEL = re.compile(r"(?:files?|uploads?|uploader|dl|downloads?)\d*")
_MUC_LABELS = frozenset({"conference", "muc", "rooms", "room", "groupchat", "chatrooms", "conf"})
_TRACKING = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "igsh",
     "si", "ref", "ref_src", "ref_url", "mc_cid", "mc_eid", "_ga", "_gl", "mkt_tok", "spm",
     "twclid", "ttclid", "li_fat_id", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid"}
)  # fmt: skip
_TG_RESERVED = frozenset(
    {"addstickers", "addemoji", "addtheme", "addlist", "proxy", "socks", "share", "iv",
     "setlanguage", "login", "confirmphone", "bg", "invoice", "giftcode", "boost", "m",
     "contact", "joinchat", "s", "c"}
)  # fmt: skip
_TG_KEEP_QUERY = ("start", "startgroup", "startapp")
TG_NAME = re.compile(r"[a-z][a-z0-9_]{3,31}", re.IGNORECASE)
_THREEMA_ID = re.compile(r"[a-z0-9*]{8}", re.IGNORECASE)
_RC_WORDS = re.compile(r"(?i:rocket[\s.\-_]?chat)|\bRC\b")
_HOOP_WORDS = re.compile(r"\bhoop\b", re.IGNORECASE)
_XMPP_WORDS = re.compile(r"\b(?:xmpp|jabber|jid)\b", re.IGNORECASE)

# Context flags: words before a link that vouch for a self-hosted server's platform.
_RC, _HOOP = 1, 2


def host_platform(host: str) -> str | None:
    """The platform of a known host or of a subdomain of one, else None."""
    platform = _HOSTS.get(host)
    while platform is None and "." in host:
        host = host.split(".", 1)[1]
        platform = _HOSTS.get(host)
    return platform


def is_known_host(host: str) -> bool:
    """A scheme-less `host/path` is a link when the host is a known platform's (`t.me/name`);
    a bare `example.com/page` is not taken for one."""
    return host.endswith(".rocket.chat") or host_platform(host) is not None


def is_xmpp_jid(text: str, start: int, jid: str) -> bool:
    """A bare `name@host` is a chat room JID on a MUC host, or a JID when XMPP is named."""
    if jid.rpartition("@")[2].split(".", 1)[0].lower() in _MUC_LABELS:
        return True
    return _XMPP_WORDS.search(text, max(0, start - 60), start) is not None


def context_flags(context: str) -> int:
    """Which self-hosted platforms the words around a link name, for `classify_host`."""
    if not context or context.__class__ is not str:
        return 0
    flags = 0
    low = context.lower()
    if ("rocket" in low or "RC" in context) and _RC_WORDS.search(context):
        flags |= _RC
    if "hoop" in low and _HOOP_WORDS.search(context):
        flags |= _HOOP
    return flags


def clean_query(query: str) -> str:
    """`query` without its empty and tracking (`utm_*`, `fbclid`, ...) parameters."""
    if not query:
        return ""
    kept = []
    for param in query.split("&"):
        key = param.split("=", 1)[0].lower()
        if param and not key.startswith("utm_") and key not in _TRACKING:
            kept.append(param)
    return "&".join(kept)


def platform_link(
    platform: str | None, host: str, path: str, query: str, fragment: str
) -> Analysis | None:
    """An http(s) link on a platform with a canonical form of its own, or None for others."""
    if platform == "telegram":
        if host.endswith(".t.me") and host.count(".") == 2:
            path = "/" + host.split(".", 1)[0] + path  # name.t.me is t.me/name
        return telegram_path(path.lstrip("/"), query)
    if fragment.startswith(("/room/", "/user/")) or (platform == "matrix" and fragment):
        found = _matrix_fragment(fragment)
        if found:
            return found
    handler = _PLATFORM_PATHS.get(platform or "")
    return handler(host, path, query) if handler else None


def classify_host(
    url: str, platform: str | None, host: str, path: str, query: str, flags: int
) -> Analysis:
    """Platform, kind and target of a normalised web `url` that `platform_link` left alone."""
    page = "site" if path in ("", "/") and not query else "page"
    if host.endswith(".onion"):
        return url, "onion", page, ".".join(host.rsplit(".", 2)[-2:])
    if host.endswith(".rocket.chat") and host.split(".", 1)[0] not in _ROCKET_VENDOR:
        return url, "rocketchat", _rocketchat_kind(path) or "other", _rc_target(host, path)
    if platform == "matrix":
        return url, "matrix", "other", None
    if platform is None:
        label = host.split(".", 1)[0]
        rc_kind = _rocketchat_kind(path)
        if rc_kind and (flags & _RC or "rocket" in label):
            return url, "rocketchat", rc_kind, _rc_target(host, path)
        if flags & _HOOP:
            return _hoop(host, path, url)
        if "paste" in label:
            platform = "paste"
        elif _FILEHOST_LABEL.fullmatch(label):
            platform = "filehost"
    if platform in ("paste", "archive", "filehost"):
        kind = page if platform != "filehost" or page == "site" else "file"
        return url, platform, kind, host
    return url, "web", page, host or None


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def telegram_path(path: str, query: str) -> Analysis:
    """A t.me path (`name`, `name/123`, `+invite`, `c/123/45`, ...) and its query."""
    parts = _segments(path)
    if parts and parts[0].lower() == "s" and len(parts) > 1:
        parts = parts[1:]  # t.me/s/NAME is the web preview of NAME
    if not parts:
        return "https://t.me/", "telegram", "other", None
    head = parts[0]
    if head.lower() == "joinchat" and len(parts) > 1:
        head = "+" + parts[1]
        parts = [head]
    if head.startswith("+") and len(head) > 1:
        code = head[1:]
        if code.isdigit():
            return f"https://t.me/+{code}", "telegram", "contact", "+" + code
        return f"https://t.me/+{code}", "telegram", "invite", code
    lowered = head.lower()
    if lowered == "c" and len(parts) > 1 and parts[1].isdigit():
        tail = "/".join(p for p in parts[1:3] if p.isdigit())
        kind = "message" if tail.count("/") else "channel"
        return f"https://t.me/c/{tail}", "telegram", kind, "c/" + parts[1]
    if lowered in _TG_RESERVED or not TG_NAME.fullmatch(head):
        rest = "/".join(parts)
        query = clean_query(query)
        return f"https://t.me/{rest}" + (f"?{query}" if query else ""), "telegram", "other", None
    numbers = [p for p in parts[1:3] if p.isdigit()]
    if numbers and len(numbers) == len(parts[1:3]):
        return f"https://t.me/{lowered}/{'/'.join(numbers)}", "telegram", "message", lowered
    kind = "bot" if lowered.endswith("bot") else "channel"
    url = f"https://t.me/{lowered}"
    if kind == "bot" and query:
        start = [p for p in query.split("&") if p.split("=", 1)[0].lower() in _TG_KEEP_QUERY]
        if start:
            url += "?" + "&".join(start)
    return url, "telegram", kind, lowered


def tg_uri(rest: str) -> Analysis:
    """tg://resolve, join, privatepost and addstickers as their t.me equivalents."""
    action, _, query = rest.lstrip("/").partition("?")
    action = action.lower().rstrip("/")
    params: dict[str, str] = {}
    for param in query.split("&"):
        key, _, value = param.partition("=")
        params.setdefault(key.lower(), unquote(value))
    if action == "resolve" and params.get("domain"):
        path = params["domain"] + (f"/{params['post']}" if params.get("post") else "")
        extra = "&".join(f"{k}={params[k]}" for k in _TG_KEEP_QUERY if k in params)
        return telegram_path(path, extra)
    if action == "join" and params.get("invite"):
        return telegram_path("+" + params["invite"], "")
    if action == "privatepost" and params.get("channel"):
        return telegram_path(f"c/{params['channel']}/{params.get('post', '')}", "")
    if action == "addstickers" and params.get("set"):
        return telegram_path("addstickers/" + params["set"], "")
    return "tg://" + rest.lstrip("/"), "telegram", "other", None


def matrix_id(identifier: str) -> Analysis | None:
    """`#room:server`, `@user:server` or `!id:server` in canonical form, or None if invalid."""
    identifier = unquote(identifier).strip()
    sigil = identifier[:1]
    local, _, server = identifier[1:].partition(":")
    if not sigil or sigil not in "#@!" or not local or not server or "/" in server:
        return None
    server = server.lower()
    if sigil == "@":
        canonical = f"@{local.lower()}:{server}"
        return f"https://matrix.to/#/{canonical}", "matrix", "user", canonical
    canonical = f"{sigil}{local}:{server}"
    return f"https://matrix.to/#/{canonical}", "matrix", "room", canonical


def _matrix_fragment(fragment: str) -> Analysis | None:
    """The room or user a matrix.to / Element / Riot fragment (`#/room/#r:s`) points to."""
    route = fragment.lstrip("/")
    for prefix in ("room/", "user/"):
        if route.startswith(prefix):
            route = route[len(prefix) :]
    route = unquote(route)
    identifier, _, event = route.split("?", 1)[0].partition("/")
    found = matrix_id(identifier)
    if found and event.startswith("$"):
        return f"{found[0]}/{event}", found[1], found[2], found[3]
    return found


def matrix_uri(rest: str) -> Analysis:
    """MSC2312 `matrix:r/room:server`, `matrix:u/user:server`, `matrix:roomid/id:server`."""
    kind, _, identifier = rest.split("?", 1)[0].partition("/")
    sigil = {"r": "#", "u": "@", "roomid": "!"}.get(kind.lower(), "")
    found = matrix_id(sigil + identifier.split("/", 1)[0]) if sigil else None
    return found or ("matrix:" + rest, "matrix", "other", None)


def xmpp_address(rest: str) -> Analysis:
    """An xmpp: URI or bare JID; a room on a MUC host or with `?join`, else a user."""
    if rest.startswith("//"):  # xmpp://account/jid: the JID is after the authority
        rest = rest[2:].partition("/")[2] or rest[2:]
    jid, _, query = rest.partition("?")
    jid = unquote(jid).split("/", 1)[0].lower()
    _, at, domain = jid.rpartition("@")
    if not domain:
        return "xmpp:" + rest.lower(), "xmpp", "other", None
    room = query.lower().startswith("join") or domain.split(".", 1)[0] in _MUC_LABELS
    if not at:
        return f"xmpp:{jid}", "xmpp", "server", jid
    if room:
        return f"xmpp:{jid}?join", "xmpp", "room", jid
    return f"xmpp:{jid}", "xmpp", "user", jid


def _rocketchat_kind(path: str) -> str | None:
    """What a Rocket.Chat web-client path shows, or None when the path is not one of its."""
    parts = _segments(path)
    if not parts or parts == ["home"]:
        return "server"
    head = parts[0].lower()
    if len(parts) >= 2 and head in ("channel", "group", "direct", "invite"):
        return {"channel": "channel", "group": "group", "direct": "user"}.get(head, "invite")
    return None


def _rc_target(host: str, path: str) -> str:
    parts = _segments(path)
    return f"{host}/{'/'.join(parts[:2])}" if len(parts) >= 2 else host


def _hoop(host: str, path: str, url: str) -> Analysis:
    parts = _segments(path)
    if not parts:
        return url, "hoop", "site", host
    if len(parts) >= 2 and parts[0].lower() in ("join", "invite", "g", "group", "channel"):
        return url, "hoop", "invite", parts[1]
    return url, "hoop", "other", None


def _hoop_known(host: str, path: str, query: str) -> Analysis:
    return _hoop(host, path, f"https://{host}/{'/'.join(_segments(path))}")


def _tamtam(host: str, path: str, query: str) -> Analysis:
    parts = _segments(path)
    if not parts:
        return "https://tt.me/", "tamtam", "other", None
    if parts[0].lower() == "join" and len(parts) > 1:
        return f"https://tt.me/join/{parts[1]}", "tamtam", "invite", parts[1]
    name = parts[0].lower()
    if len(parts) > 1 and parts[1].isdigit():
        return f"https://tt.me/{name}/{parts[1]}", "tamtam", "message", name
    return f"https://tt.me/{name}", "tamtam", "channel", name


def _threema(host: str, path: str, query: str) -> Analysis:
    parts = _segments(path)
    if parts and _THREEMA_ID.fullmatch(parts[0]):
        ident = parts[0].upper()
        return f"https://threema.id/{ident}", "threema", "contact", ident
    return "https://threema.id/" + "/".join(parts), "threema", "other", None


def _whatsapp(host: str, path: str, query: str) -> Analysis:
    parts = _segments(path)
    if host == "chat.whatsapp.com" and parts:
        code = parts[-1] if parts[0].lower() == "invite" else parts[0]
        return f"https://chat.whatsapp.com/{code}", "whatsapp", "invite", code
    if host == "wa.me" and parts and parts[0].lstrip("+").isdigit():
        number = parts[0].lstrip("+")
        return f"https://wa.me/{number}", "whatsapp", "contact", number
    if len(parts) >= 2 and parts[0].lower() == "channel":
        return f"https://whatsapp.com/channel/{parts[1]}", "whatsapp", "channel", parts[1]
    phone = re.search(r"(?:^|&)phone=\+?(\d+)", query)
    if phone:
        return f"https://wa.me/{phone.group(1)}", "whatsapp", "contact", phone.group(1)
    return f"https://{host}/{'/'.join(parts)}", "whatsapp", "other", None


def _discord(host: str, path: str, query: str) -> Analysis:
    parts = _segments(path)
    if host == "discord.gg" and parts:
        return f"https://discord.gg/{parts[0]}", "discord", "invite", parts[0]
    if len(parts) >= 2 and parts[0].lower() == "invite":
        return f"https://discord.gg/{parts[1]}", "discord", "invite", parts[1]
    if len(parts) >= 3 and parts[0].lower() == "channels":
        target = f"{parts[1]}/{parts[2]}"
        return f"https://discord.com/channels/{target}", "discord", "channel", target
    return f"https://{host}/{'/'.join(parts)}", "discord", "other", None


def _mewe(host: str, path: str, query: str) -> Analysis:
    parts = _segments(path)
    url = f"https://{host}/{'/'.join(parts)}"
    if not parts:
        return url, "mewe", "site", None
    head = parts[0].lower()
    if len(parts) >= 2 and head in ("join", "group"):
        return url, "mewe", "group", parts[1]
    if len(parts) >= 2 and head in ("i", "p"):
        return url, "mewe", "user" if head == "i" else "page", parts[1].lower()
    return url, "mewe", "other", None


# Platforms whose http(s) links have a canonical form of their own: (host, path, query) -> link.
_PLATFORM_PATHS: dict[str, Callable[[str, str, str], Analysis]] = {
    "tamtam": _tamtam,
    "threema": _threema,
    "whatsapp": _whatsapp,
    "discord": _discord,
    "mewe": _mewe,
    "hoop": _hoop_known,
}
