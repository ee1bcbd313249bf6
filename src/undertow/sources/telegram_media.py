"""Media references of Telegram export messages: placeholders, missing files, unsafe paths,
and files hashed into the evidence store (now, or later by the importer)."""

from __future__ import annotations

import mimetypes
import os
import re
from typing import Any

from undertow.records import (
    MEDIA_MISSING,
    MEDIA_NOT_INCLUDED,
    MEDIA_PENDING,
    MEDIA_REJECTED,
    MEDIA_STORED,
    MediaRef,
)
from undertow.sources.base import RecordError
from undertow.sources.telegram_context import ChatContext, clean, int_or_none

_PLACEHOLDER = re.compile(r"^\(File .*\)$|^\(.*exporting settings.*\)$", re.DOTALL)


def _media_ref(
    ctx: ChatContext, position: int, role: str, kind: str, value: Any, raw: dict[str, Any]
) -> MediaRef:
    if not isinstance(value, str):
        raise RecordError(f"media field for {role} is not a string: {value!r}")
    value = clean(value)
    mime = raw.get("mime_type") if role != "thumbnail" else None
    ref = MediaRef(position=position, role=role, kind=kind, path=None, status=MEDIA_NOT_INCLUDED)
    ref.mime = clean(mime) if isinstance(mime, str) else None
    if role != "thumbnail":
        ref.file_name = clean(raw["file_name"]) if isinstance(raw.get("file_name"), str) else None
        ref.width = int_or_none(raw.get("width"))
        ref.height = int_or_none(raw.get("height"))
        ref.duration_s = int_or_none(raw.get("duration_seconds"))
        ref.size = int_or_none(raw.get("file_size", raw.get("photo_file_size")))
    if _PLACEHOLDER.match(value) or not value:
        return ref
    ref.path = value
    stored = _store_file(ctx, value)
    if stored is None or stored is False or stored is True:
        ref.status = MEDIA_REJECTED if stored is False else MEDIA_MISSING
        return ref
    if isinstance(stored, str):
        ref.status, ref.source_path = MEDIA_PENDING, stored
        return ref
    ref.sha256, ref.size = stored
    ref.status = MEDIA_STORED
    if ref.mime is None:
        ref.mime = mimetypes.guess_type(value)[0]
    return ref


def _resolve_inside(ctx: ChatContext, relative: str) -> str | None:
    """The real path of `relative` if it stays inside the export folder (symlinks followed).

    Folders are resolved once per chat; the file itself is only checked for being a link,
    which keeps this to one system call per file on exports with thousands of photos.
    """
    if not ctx.real_base:
        ctx.real_base = os.path.realpath(ctx.base_dir)
    inside = ctx.real_base + os.sep
    try:
        folder, name = os.path.split(relative)
        real_folder = ctx.real_folders.get(folder)
        if real_folder is None:
            real_folder = os.path.realpath(os.path.join(ctx.real_base, folder))
            if len(ctx.real_folders) < 10_000:
                ctx.real_folders[folder] = real_folder
        if real_folder != ctx.real_base and not real_folder.startswith(inside):
            return None
        path = os.path.join(real_folder, name)
        if name in ("", ".", "..") or os.path.islink(path):
            path = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    return path if path.startswith(inside) else None


def _store_file(ctx: ChatContext, relative: str) -> tuple[str, int] | str | bool | None:
    """(sha256, size) of a stored file, None if it is missing, False if the path is unsafe,
    or the file's real path when storing is deferred."""
    if relative in ctx.media_cache:
        return ctx.media_cache[relative]
    result: tuple[str, int] | str | bool | None
    real = _resolve_inside(ctx, relative)
    if real is None:
        result = False
    elif ctx.defer_media:
        result = real  # the importer hashes it (see MediaRef.source_path)
    else:
        try:
            result = ctx.evidence.add_file(real)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            result = None
    if len(ctx.media_cache) < 100_000:
        ctx.media_cache[relative] = result
    return result


def media_refs(ctx: ChatContext, raw: dict[str, Any]) -> list[MediaRef]:
    """The photo, file and thumbnail a message refers to, stored, pending or accounted for."""
    refs: list[MediaRef] = []
    if "photo" in raw:
        refs.append(_media_ref(ctx, len(refs), "photo", "photo", raw["photo"], raw))
    if "file" in raw:
        kind = raw.get("media_type") if isinstance(raw.get("media_type"), str) else "file"
        refs.append(_media_ref(ctx, len(refs), "file", str(kind), raw["file"], raw))
    if "thumbnail" in raw:
        refs.append(_media_ref(ctx, len(refs), "thumbnail", "thumbnail", raw["thumbnail"], raw))
    return refs
