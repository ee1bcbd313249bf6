"""Link extraction: canonical forms, platform and kind of every destination, entity and text
sources, and bounded behaviour on hostile input."""

from __future__ import annotations

import time
from typing import Any

import pytest

from undertow.enrich.links import (
    MAX_LINKS,
    MAX_URL_LENGTH,
    PLATFORMS,
    Link,
    classify_url,
    extract_links,
    normalize_url,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # scheme and host case, www., default ports, empty path
        ("HTTPS://WWW.Example.COM/Path", "https://example.com/Path"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://user:secret@example.com/a", "https://example.com/a"),
        # fragments are dropped unless they carry the destination
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/app#/inbox", "https://example.com/app#/inbox"),
        # tracking parameters
        ("https://example.com/a?utm_source=tg&utm_medium=x&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=1&gclid=2&igshid=3&si=4", "https://example.com/a"),
        ("https://example.com/a?ref=tg&mc_cid=1&mc_eid=2&b=1&a=2", "https://example.com/a?b=1&a=2"),
        # trailing punctuation that is not part of the URL
        ("https://example.com/a.", "https://example.com/a"),
        ("https://example.com/a,", "https://example.com/a"),
        ("https://example.com/a)", "https://example.com/a"),
        ("https://example.com/a»", "https://example.com/a"),
        ('https://example.com/a"', "https://example.com/a"),
        ("https://example.com/a'", "https://example.com/a"),
        ("https://en.example.org/wiki/Foo_(bar)", "https://en.example.org/wiki/Foo_(bar)"),
        # scheme-less forms
        ("t.me/SomeChannel", "https://t.me/somechannel"),
        ("www.example.com/x", "https://example.com/x"),
        # Telegram aliases, previews, deep links, invites
        ("https://telegram.me/SomeChannel", "https://t.me/somechannel"),
        ("https://telegram.dog/SomeChannel", "https://t.me/somechannel"),
        ("http://www.t.me/SomeChannel/", "https://t.me/somechannel"),
        ("https://t.me/s/SomeChannel", "https://t.me/somechannel"),
        ("https://somechannel.t.me/", "https://t.me/somechannel"),
        ("tg://resolve?domain=SomeChannel", "https://t.me/somechannel"),
        ("tg://resolve?domain=SomeChannel&post=12", "https://t.me/somechannel/12"),
        ("tg://join?invite=AbCdEf_12-x", "https://t.me/+AbCdEf_12-x"),
        ("tg://privatepost?channel=1234&post=5", "https://t.me/c/1234/5"),
        ("https://t.me/joinchat/AbCdEf_12-x", "https://t.me/+AbCdEf_12-x"),
        ("https://t.me/+AbCdEf_12-x", "https://t.me/+AbCdEf_12-x"),
        ("https://t.me/SomeChannel/123?single", "https://t.me/somechannel/123"),
        ("https://t.me/Some_Bot?start=ref42&utm_source=x", "https://t.me/some_bot?start=ref42"),
        # Matrix: the room lives in the fragment, whatever client the link opens
        ("https://matrix.to/#/#Room:Example.ORG", "https://matrix.to/#/#Room:example.org"),
        (
            "https://matrix.to/#/%23room%3Aexample.org?via=x.org",
            "https://matrix.to/#/#room:example.org",
        ),
        ("https://riot.im/app/#/room/#room:example.net", "https://matrix.to/#/#room:example.net"),
        (
            "https://app.element.io/#/room/#room:example.org",
            "https://matrix.to/#/#room:example.org",
        ),
        (
            "https://chat.example.org/#/room/#room:example.org",
            "https://matrix.to/#/#room:example.org",
        ),
        ("https://matrix.to/#/@Alice:Example.org", "https://matrix.to/#/@alice:example.org"),
        ("matrix:r/room:example.org", "https://matrix.to/#/#room:example.org"),
        # other platforms' canonical hosts
        ("https://tamtam.chat/SomeChannel", "https://tt.me/somechannel"),
        ("https://threema.id/abcd1234?text=hi", "https://threema.id/ABCD1234"),
        ("https://discord.com/invite/AbC123", "https://discord.gg/AbC123"),
        ("https://api.whatsapp.com/send?phone=4915550100", "https://wa.me/4915550100"),
        ("XMPP:Room@Conference.Example.org?join", "xmpp:room@conference.example.org?join"),
        ("xmpp:room@conference.example.org", "xmpp:room@conference.example.org?join"),
        # IDNs: the punycode and Unicode spellings of a host are one host
        ("https://пример.рф/a", "https://xn--e1afmkfd.xn--p1ai/a"),
        ("https://XN--E1AFMKFD.xn--p1ai/a", "https://xn--e1afmkfd.xn--p1ai/a"),
        ("https://example.com/путь", "https://example.com/%D0%BF%D1%83%D1%82%D1%8C"),
        ("https://example.com/%d0%bf", "https://example.com/%D0%BF"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


def test_broken_idn_falls_back_to_the_lower_cased_host() -> None:
    host = "Ä" * 70 + ".example"  # a label over 63 characters is not a valid IDN
    assert normalize_url(f"https://{host}/x") == f"https://{host.lower()}/x"


@pytest.mark.parametrize(
    ("url", "context", "platform", "kind", "target"),
    [
        # telegram
        ("https://t.me/SomeChannel", "", "telegram", "channel", "somechannel"),
        ("https://t.me/Some_Bot", "", "telegram", "bot", "some_bot"),
        ("@SomeChannel", "", "telegram", "channel", "somechannel"),
        ("https://t.me/+AbCdEf_12", "", "telegram", "invite", "AbCdEf_12"),
        ("https://t.me/joinchat/AbCdEf_12", "", "telegram", "invite", "AbCdEf_12"),
        ("https://t.me/+4915550100", "", "telegram", "contact", "+4915550100"),
        ("https://t.me/SomeChannel/123", "", "telegram", "message", "somechannel"),
        ("https://t.me/c/1234567/89", "", "telegram", "message", "c/1234567"),
        ("https://t.me/addstickers/SomeSet", "", "telegram", "other", None),
        ("https://t.me/proxy?server=1.2.3.4&port=443", "", "telegram", "other", None),
        ("https://t.me/", "", "telegram", "other", None),
        # rocketchat: cloud hosts, and self-hosted servers by shape plus words
        (
            "https://open.rocket.chat/channel/general",
            "",
            "rocketchat",
            "channel",
            "open.rocket.chat/channel/general",
        ),
        (
            "https://news12.rocket.chat/group/inner",
            "",
            "rocketchat",
            "group",
            "news12.rocket.chat/group/inner",
        ),
        (
            "https://chat.example.org/channel/news",
            "Our new home on Rocket.Chat: ",
            "rocketchat",
            "channel",
            "chat.example.org/channel/news",
        ),
        (
            "https://chat.example.org/group/core",
            "rocketchat group ",
            "rocketchat",
            "group",
            "chat.example.org/group/core",
        ),
        (
            "https://chat.example.org/direct/admin",
            "write to the admin on RC",
            "rocketchat",
            "user",
            "chat.example.org/direct/admin",
        ),
        (
            "https://chat.example.org/home",
            "our RC server ",
            "rocketchat",
            "server",
            "chat.example.org",
        ),
        ("https://chat.example.org/", "Rocket Chat: ", "rocketchat", "server", "chat.example.org"),
        (
            "https://rocket.example.org/channel/news",
            "",
            "rocketchat",
            "channel",
            "rocket.example.org/channel/news",
        ),
        ("https://chat.example.org/channel/news", "", "web", "page", "chat.example.org"),
        (
            "https://chat.example.org/channel/news",
            "the rc car club",
            "web",
            "page",
            "chat.example.org",
        ),
        ("https://docs.rocket.chat/install", "", "web", "page", "docs.rocket.chat"),
        # matrix
        ("https://matrix.to/#/#room:example.org", "", "matrix", "room", "#room:example.org"),
        ("https://matrix.to/#/!abcDEF:example.org", "", "matrix", "room", "!abcDEF:example.org"),
        ("https://matrix.to/#/@alice:example.org", "", "matrix", "user", "@alice:example.org"),
        ("https://riot.im/app/#/room/#room:example.net", "", "matrix", "room", "#room:example.net"),
        (
            "https://app.element.io/#/room/#room:example.org",
            "",
            "matrix",
            "room",
            "#room:example.org",
        ),
        (
            "https://chat.example.net/#/room/#room:example.net",
            "",
            "matrix",
            "room",
            "#room:example.net",
        ),
        ("#room:example.org", "", "matrix", "room", "#room:example.org"),
        ("@alice:example.org", "", "matrix", "user", "@alice:example.org"),
        ("https://app.element.io/", "", "matrix", "other", None),
        # tamtam
        ("https://tt.me/SomeChannel", "", "tamtam", "channel", "somechannel"),
        ("https://tamtam.chat/somechannel", "", "tamtam", "channel", "somechannel"),
        ("https://tt.me/join/AbCdEf", "", "tamtam", "invite", "AbCdEf"),
        # threema: 8 characters of [A-Z0-9*]
        ("https://threema.id/ABCD1234", "", "threema", "contact", "ABCD1234"),
        ("https://threema.id/*ABC1234", "", "threema", "contact", "*ABC1234"),
        ("https://threema.id/ABC", "", "threema", "other", None),
        # xmpp
        (
            "xmpp:room@conference.example.org?join",
            "",
            "xmpp",
            "room",
            "room@conference.example.org",
        ),
        ("xmpp:room@chat.example.org?join", "", "xmpp", "room", "room@chat.example.org"),
        ("xmpp:room@muc.example.org", "", "xmpp", "room", "room@muc.example.org"),
        ("xmpp:alice@example.org/phone", "", "xmpp", "user", "alice@example.org"),
        ("xmpp:example.org", "", "xmpp", "server", "example.org"),
        ("room@conference.example.org", "", "xmpp", "room", "room@conference.example.org"),
        # hoop: its own hosts, and other hosts when the words say Hoop
        ("https://hoop.photo/join/abcdef", "", "hoop", "invite", "abcdef"),
        ("https://hoopmessenger.com/", "", "hoop", "site", "hoopmessenger.com"),
        ("https://hoop.example.com/join/abcdef", "Hoop group: ", "hoop", "invite", "abcdef"),
        ("https://hoop.example.com/join/abcdef", "", "web", "page", "hoop.example.com"),
        # mewe
        ("https://mewe.com/join/somegroup", "", "mewe", "group", "somegroup"),
        ("https://mewe.com/group/5f0c1d2e", "", "mewe", "group", "5f0c1d2e"),
        ("https://mewe.com/i/SomeUser", "", "mewe", "user", "someuser"),
        # whatsapp
        ("https://chat.whatsapp.com/AbCdEf123", "", "whatsapp", "invite", "AbCdEf123"),
        ("https://wa.me/4915550100", "", "whatsapp", "contact", "4915550100"),
        ("https://whatsapp.com/channel/0029Va", "", "whatsapp", "channel", "0029Va"),
        # discord
        ("https://discord.gg/AbC123", "", "discord", "invite", "AbC123"),
        ("https://discordapp.com/invite/AbC123", "", "discord", "invite", "AbC123"),
        ("https://discord.com/channels/1/2", "", "discord", "channel", "1/2"),
        # onion
        ("http://abcdefghijklmnop.onion/", "", "onion", "site", "abcdefghijklmnop.onion"),
        ("http://www.abcdefghijklmnop.onion/page", "", "onion", "page", "abcdefghijklmnop.onion"),
        # paste
        ("https://justpaste.it/abc12", "", "paste", "page", "justpaste.it"),
        ("https://pastebin.com/AbC", "", "paste", "page", "pastebin.com"),
        ("https://paste.ee/p/AbC", "", "paste", "page", "paste.ee"),
        ("https://ghostbin.com/x", "", "paste", "page", "ghostbin.com"),
        ("https://controlc.com/123", "", "paste", "page", "controlc.com"),
        ("https://rentry.co/abc", "", "paste", "page", "rentry.co"),
        ("https://paste.example.net/abcdefgh", "", "paste", "page", "paste.example.net"),
        ("https://mypastes.example.org/x", "", "paste", "page", "mypastes.example.org"),
        # archive
        ("https://archive.org/details/some-item", "", "archive", "page", "archive.org"),
        (
            "https://web.archive.org/web/2019/https://t.me/x",
            "",
            "archive",
            "page",
            "web.archive.org",
        ),
        ("https://archive.ph/AbCd", "", "archive", "page", "archive.ph"),
        ("https://archive.today/AbCd", "", "archive", "page", "archive.today"),
        ("https://archive.is/AbCd", "", "archive", "page", "archive.is"),
        # filehost
        ("https://www.mediafire.com/file/abc/x.zip", "", "filehost", "file", "mediafire.com"),
        ("https://mega.nz/file/AbC#key", "", "filehost", "file", "mega.nz"),
        ("https://drive.google.com/file/d/abc/view", "", "filehost", "file", "drive.google.com"),
        ("https://www.dropbox.com/s/abc/x.pdf", "", "filehost", "file", "dropbox.com"),
        ("https://files.fm/u/abc", "", "filehost", "file", "files.fm"),
        ("https://gofile.io/d/abc", "", "filehost", "file", "gofile.io"),
        ("https://anonfiles.com/abc", "", "filehost", "file", "anonfiles.com"),
        ("https://uptobox.com/abc", "", "filehost", "file", "uptobox.com"),
        ("https://www.4shared.com/abc", "", "filehost", "file", "4shared.com"),
        ("https://www1.zippyshare.com/v/abc", "", "filehost", "file", "www1.zippyshare.com"),
        ("https://ufile.io/abc", "", "filehost", "file", "ufile.io"),
        ("https://k.top4top.io/abc", "", "filehost", "file", "k.top4top.io"),
        ("https://file.io/abc", "", "filehost", "file", "file.io"),
        ("https://files.example.com/d/abc", "", "filehost", "file", "files.example.com"),
        ("https://upload.example.net/f/abc", "", "filehost", "file", "upload.example.net"),
        ("https://dl.example.org/abc", "", "filehost", "file", "dl.example.org"),
        ("https://download.example.org/", "", "filehost", "site", "download.example.org"),
        # web
        ("https://news.example.com/", "", "web", "site", "news.example.com"),
        ("https://news.example.com/world/2019/a", "", "web", "page", "news.example.com"),
        ("https://t.me@evil.example/x", "", "web", "page", "evil.example"),
        # not links
        ("javascript:alert(1)", "", "web", "other", None),
        ("mailto:someone@example.org", "", "web", "other", None),
    ],
)
def test_classify_url(url: str, context: str, platform: str, kind: str, target: str | None) -> None:
    assert classify_url(url, context) == (platform, kind, target)
    assert platform in PLATFORMS


def test_every_platform_is_reachable() -> None:
    urls = [
        "https://t.me/abcde", "https://open.rocket.chat/channel/x", "#r:example.org",
        "https://tt.me/abc", "https://threema.id/ABCD1234", "xmpp:a@b.org", "https://hoop.photo/",
        "https://mewe.com/join/x", "https://wa.me/1", "https://discord.gg/x",
        "http://abcdefghijklmnop.onion/", "https://pastebin.com/x", "https://archive.org/x",
        "https://mega.nz/x", "https://example.com/",
    ]  # fmt: skip
    assert sorted({classify_url(url)[0] for url in urls}) == sorted(PLATFORMS)


def links(text: str, entities: list[dict[str, Any]] | None = None) -> list[Link]:
    found = extract_links(text, entities or [])
    for link in found:
        if link.start is not None:
            assert link.end is not None
            assert text[link.start : link.end] == link.url, link
    return found


def test_link_free_messages_give_nothing() -> None:
    assert links("") == []
    assert links("Amaq: Weekly market reported the northern bulletin.\n\n#KhilafahNews #Amaq") == []
    assert links("5 p.m. e.g. the report.pdf, 24/7 and/or a@b, #tag: x") == []
    assert links("write to someone@example.org") == []  # an e-mail address is not a link


def test_scan_finds_every_form_in_plain_text_with_spans() -> None:
    text = (
        "Channels: https://t.me/First_One, t.me/second_one and @Third_One.\n"
        "Matrix: #room:example.org or @alice:example.org; XMPP: xmpp:r@conference.example.org?join "
        "or r2@conference.example.net\n"
        "TamTam tt.me/tamname, Threema threema.id/ABCD1234, "
        "onion abcdefghijklmnop.onion, site www.Example.com/page, "
        "tg://resolve?domain=fourth_one\n"
    )
    found = links(text)
    assert [(link.normalized_url, link.platform, link.kind, link.source) for link in found] == [
        ("https://t.me/first_one", "telegram", "channel", "text"),
        ("https://t.me/second_one", "telegram", "channel", "text"),
        ("https://t.me/third_one", "telegram", "channel", "mention"),
        ("https://matrix.to/#/#room:example.org", "matrix", "room", "text"),
        ("https://matrix.to/#/@alice:example.org", "matrix", "user", "text"),
        ("xmpp:r@conference.example.org?join", "xmpp", "room", "text"),
        ("xmpp:r2@conference.example.net?join", "xmpp", "room", "text"),
        ("https://tt.me/tamname", "tamtam", "channel", "text"),
        ("https://threema.id/ABCD1234", "threema", "contact", "text"),
        ("https://abcdefghijklmnop.onion/", "onion", "site", "text"),
        ("https://example.com/page", "web", "page", "text"),
        ("https://t.me/fourth_one", "telegram", "channel", "text"),
    ]
    assert all(link.start is not None for link in found)


def test_spans_count_characters_after_emoji_and_other_scripts() -> None:
    text = "📢🔴 قناة جديدة: https://t.me/NewOne «https://example.org/a»"
    found = links(text)
    assert [link.url for link in found] == ["https://t.me/NewOne", "https://example.org/a"]


def test_an_entity_and_the_same_url_in_the_text_are_one_link() -> None:
    text = "new channel: https://t.me/NewOne and again https://t.me/newone."
    entity = {"type": "link", "text": "https://t.me/NewOne", "offset": 13}
    found = links(text, [entity])
    assert len(found) == 1
    assert (found[0].source, found[0].start, found[0].end) == ("link", 13, 32)


def test_entity_wins_even_when_the_text_copy_comes_first() -> None:
    text = "t.me/newone then https://t.me/NewOne"
    found = links(text, [{"type": "link", "text": "https://t.me/NewOne", "offset": 17}])
    assert [(link.source, link.url) for link in found] == [("link", "https://t.me/NewOne")]


def test_mentions_as_entities_and_in_text() -> None:
    text = "backup channel @Backup_Two, old one @old_one_1 was removed"
    entity = {"type": "mention", "text": "@Backup_Two", "offset": 15}
    found = links(text, [entity])
    assert [(link.target, link.source, link.kind) for link in found] == [
        ("backup_two", "mention", "channel"),
        ("old_one_1", "mention", "channel"),
    ]
    assert links("ask @helper_bot")[0].kind == "bot"
    # a mention and a t.me link to the same handle are one destination
    assert len(links("@SameOne or https://t.me/sameone")) == 1


def test_text_link_href_is_taken_with_the_words_before_it() -> None:
    text = "Our new home on Rocket.Chat: click here\nOfficial site: https://a.example.net/"
    entities = [
        {"type": "text_link", "text": "click here", "href": "https://chat.example.org/channel/x",
         "offset": 29},
        {"type": "link", "text": "https://a.example.net/", "offset": 55},
    ]  # fmt: skip
    found = links(text, entities)
    assert [(link.platform, link.source, link.start) for link in found] == [
        ("rocketchat", "href", None),
        ("web", "link", 55),
    ]


def test_context_is_the_words_before_the_link_not_a_previous_line_with_a_link() -> None:
    text = (
        "Hoop group: https://hoop.example.com/join/abc\n"
        "Our new home on Rocket.Chat: https://chat.example.org/channel/news\n"
        "Official site: https://site.example.net/\n"
        "https://other.example.org/channel/x (Rocket.Chat)\n"
    )
    assert [(link.platform, link.kind) for link in links(text)] == [
        ("hoop", "invite"),
        ("rocketchat", "channel"),
        ("web", "site"),
        ("rocketchat", "channel"),
    ]


def test_email_is_a_jid_only_where_xmpp_is_named() -> None:
    assert links("mail bob@example.org") == []
    found = links("Jabber: bob@example.org")
    assert [(link.platform, link.kind, link.target) for link in found] == [
        ("xmpp", "user", "bob@example.org")
    ]


def test_hashtags_are_not_matrix_rooms() -> None:
    assert links("#KhilafahNews: #Amaq #Nashir:") == []
    assert links("see #news:example.org")[0].target == "#news:example.org"


def test_unsupported_schemes_are_skipped() -> None:
    text = "javascript:alert('x') data:text/html,hi ftp://t.me/x mailto:a@b.org hxxps://t.me/y"
    assert links(text) == []
    entities = [{"type": "text_link", "text": "x", "href": "javascript:alert(1)", "offset": 0}]
    assert [link.kind for link in links("x", entities)] == ["other"]


@pytest.mark.parametrize(
    "entities",
    [
        [{"type": "link", "text": "https://t.me/abcde"}],  # offset missing
        [{"type": "link", "text": "https://t.me/abcde", "offset": 999}],  # offset past the end
        [{"type": "link", "text": "https://t.me/abcde", "offset": 3}],  # offset wrong
        [{"type": "link", "text": "https://t.me/abcde", "offset": "2"}],  # offset not a number
        [{"type": "link", "text": "https://t.me/abcde", "offset": -5}],
    ],
)
def test_bad_entity_offsets_are_recovered_from_the_text(entities: list[dict[str, Any]]) -> None:
    found = links("go https://t.me/abcde now", entities)
    assert [(link.source, link.start) for link in found] == [("link", 3)]


def test_malformed_entities_never_raise() -> None:
    junk: list[Any] = [
        None, 5, "link", [], {}, {"type": None}, {"type": "link"}, {"type": "link", "text": 5},
        {"type": "text_link", "text": "x"}, {"type": "text_link", "href": 7},
        {"type": "text_link", "href": "   "}, {"type": "mention", "text": "no-at"},
        {"type": "mention", "text": "@x"}, {"type": "hashtag", "text": "#a", "offset": 0},
        {"type": "link", "text": "https://t.me/abcde", "offset": 10**30},
        {"type": "link", "text": "not in text", "offset": 0},
    ]  # fmt: skip
    found = extract_links("hello", junk)
    assert [(link.url, link.start) for link in found] == [
        ("https://t.me/abcde", None),
        ("not in text", None),
    ]
    assert extract_links(None, None) == []  # type: ignore[arg-type]
    assert extract_links("t.me/abcde", "oops") == links("t.me/abcde")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1_000_000,
        "/" * 500_000,
        "@" * 500_000,
        "@abcde " * 100_000,
        "https://" + "x" * 1_000_000,
        "t.me/" * 200_000,
        "(" * 100_000 + "https://example.org/" + ")" * 100_000,
        "https://example.org/" + "(" * 50_000,
        "\x00\x01\x02https://t.me/abcde\x7f\ud800\u202e" * 1000,
        "#a:" * 200_000,
        "www." * 200_000,
        ".onion" * 200_000,
        "xmpp:" * 200_000,
        "a@" * 300_000,
        "x" * 70 + "@conference." + "b." * 5000 + "org",
        "İ" * 1000 + " https://t.me/abcde",
    ],
    ids=lambda text: repr(text[:12]),
)
def test_hostile_text_is_bounded(text: str) -> None:
    began = time.perf_counter()
    found = links(text)
    assert time.perf_counter() - began < 5
    assert len(found) <= MAX_LINKS
    assert all(len(link.url) <= MAX_URL_LENGTH for link in found)


def test_link_count_and_url_length_are_capped() -> None:
    many = " ".join(f"https://example.org/{n}" for n in range(MAX_LINKS + 500))
    assert len(links(many)) == MAX_LINKS
    long_url = "https://example.org/" + "a" * 5000
    (found,) = links(f"see {long_url} end")
    assert found.url == long_url[:MAX_URL_LENGTH]
    assert normalize_url(long_url) == long_url[:MAX_URL_LENGTH]


def test_huge_urls_given_directly_are_bounded() -> None:
    huge = "https://example.org/" + ")" * 1_000_000
    entities = [{"type": "text_link", "text": "x", "href": huge, "offset": 0}]
    began = time.perf_counter()
    assert normalize_url(huge) == "https://example.org/"
    assert classify_url(huge, "x" * 1_000_000) == ("web", "site", "example.org")
    assert [link.normalized_url for link in links("x", entities)] == ["https://example.org/"]
    assert time.perf_counter() - began < 5


def test_control_characters_and_brackets_end_a_url() -> None:
    found = links("[https://t.me/abcde]\x00(https://example.org/a\tb)")
    assert [link.url for link in found] == ["https://t.me/abcde", "https://example.org/a"]


def test_public_functions_never_raise_on_odd_urls() -> None:
    odd = [
        "", " ", "https://", "https://[::1", "https://[::1]:99999999/x", "http://:80",
        "https://host:port/x", "tg://", "tg://resolve", "xmpp:", "xmpp:@", "matrix:r/",
        "https://matrix.to/#/", "https://t.me/c/", "https://t.me/+", "#", "@", "!x:",
        "https://a..b/", "https://xn--/", "https://\udcff.com/", "https://" + "9" * 5000 + ":1",
        "https://example.org:" + "1" * 5000,
    ]  # fmt: skip
    for url in odd:
        assert isinstance(normalize_url(url), str)
        platform, _, _ = classify_url(url, context="Rocket.Chat hoop xmpp")
        assert platform in PLATFORMS


def test_whole_identifiers_win_over_entities_telegram_marks_inside_them() -> None:
    text = "Matrix @alice:example.org, room #news:example.org, XMPP room@conference.example.org"
    entities = [
        {"type": "mention", "text": "@alice", "offset": 7},
        {"type": "hashtag", "text": "#news", "offset": 32},
        {"type": "link", "text": "example.org", "offset": 38},
        {"type": "email", "text": "room@conference.example.org", "offset": 56},
    ]
    assert [(link.platform, link.target) for link in links(text, entities)] == [
        ("matrix", "@alice:example.org"),
        ("matrix", "#news:example.org"),
        ("xmpp", "room@conference.example.org"),
    ]
