"""The evidence archive of a referral package: `evidence.zip` with `manifest.json`.

This is the chain-of-custody form open-source investigators use: the preserved media and
message texts, and a manifest giving every file its SHA-256, size, when it was posted and
captured, and where from.  Media missing from the evidence store (never downloaded, or lost
since) are listed in the manifest as missing, so that a referral still goes out when part of
the evidence is gone; a blob whose bytes no longer match its hash is packed as
`hash_mismatch`.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

import orjson

from undertow.enrich.evidence import EvidenceStore
from undertow.settings import Settings
from undertow.triage.referral_records import ReferralCase, ReferralItem, ReferralMedia, iso_utc

_CHUNK = 1 << 20
_ZIP64_FROM = 1 << 31
_SHA256 = re.compile(r"[0-9a-f]{64}")


def write_zip(
    path: Path, header: dict[str, Any], cases: list[ReferralCase], settings: Settings, now: int
) -> dict[str, Any]:
    """Write `evidence.zip` (with its `manifest.json`) for the cases; return the manifest."""
    evidence = EvidenceStore(settings.evidence_dir)
    stamp = datetime.fromtimestamp(now, UTC).timetuple()[:6]
    files: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for case in cases:
            for item in case.items:
                if item.text is not None:
                    files.append(_add_text(archive, item, stamp))
                for media in item.media:
                    entry = _add_media(archive, evidence, item, media, stamp)
                    (files if entry.get("path") else missing).append(entry)
        manifest = {**header, "files": files, "missing": missing}
        archive.writestr(_info("manifest.json", stamp), manifest_bytes(manifest))
    return manifest


def _add_text(
    archive: zipfile.ZipFile, item: ReferralItem, stamp: tuple[int, ...]
) -> dict[str, Any]:
    name = f"text/{_safe(item.channel_id)}_{item.message_id}.txt"
    data = (item.text or "").encode("utf-8")
    archive.writestr(_info(name, stamp), data)
    return {
        "path": name, "kind": "text", "status": "preserved",
        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        **_times(item.posted_at, item.captured_at), **_source(item),
    }  # fmt: skip


def _add_media(
    archive: zipfile.ZipFile,
    evidence: EvidenceStore,
    item: ReferralItem,
    media: ReferralMedia,
    stamp: tuple[int, ...],
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": media.kind, "original_name": media.original, "mime": media.mime,
        **_times(item.posted_at, media.captured_at), **_source(item, media.position),
    }  # fmt: skip
    blob = evidence.blob_path(media.sha256) if is_sha256(media.sha256) else None
    if blob is None or not blob.is_file():
        reason = "not in the evidence store" if blob is not None else "never preserved"
        return {"path": None, "status": "missing", "reason": reason,
                "sha256": media.sha256, **entry}  # fmt: skip
    name = f"media/{_safe(item.channel_id)}_{item.message_id}_{media.position}{_suffix(media)}"
    digest, size = _copy_into(archive, blob, _info(name, stamp))
    status = "preserved" if digest == media.sha256 else "hash_mismatch"
    extra = {} if status == "preserved" else {"expected_sha256": media.sha256}
    return {"path": name, "status": status, "sha256": digest, "size": size, **extra, **entry}


def _copy_into(archive: zipfile.ZipFile, blob: Path, info: zipfile.ZipInfo) -> tuple[str, int]:
    """Stream `blob` into the archive, hashing the very bytes written."""
    digest, size = hashlib.sha256(), 0
    large = blob.stat().st_size >= _ZIP64_FROM
    with blob.open("rb") as source, archive.open(info, "w", force_zip64=large) as target:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _info(name: str, stamp: tuple[int, ...]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(stamp[0], stamp[1], stamp[2],
                                            stamp[3], stamp[4], stamp[5]))  # fmt: skip
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _source(item: ReferralItem, position: int | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {
        "case_id": item.case_id, "channel_id": item.channel_id,
        "message_id": item.message_id, "permalink": item.permalink or None,
    }  # fmt: skip
    if position is not None:
        source["position"] = position
    return {"source": source}


def _times(posted: int | None, captured: int | None) -> dict[str, str | None]:
    return {
        "posted_at": iso_utc(posted) if posted is not None else None,
        "captured_at": iso_utc(captured) if captured is not None else None,
    }


def _suffix(media: ReferralMedia) -> str:
    suffix = Path(media.original).suffix if media.original else ""
    if not suffix and media.mime:
        suffix = mimetypes.guess_extension(media.mime) or ""
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)


def is_sha256(value: str | None) -> TypeGuard[str]:
    """Whether `value` is a lowercase hex SHA-256 digest (so safe to use as a blob name)."""
    return value is not None and _SHA256.fullmatch(value) is not None


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as indented JSON with sorted keys, the same bytes inside and beside the zip."""
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
