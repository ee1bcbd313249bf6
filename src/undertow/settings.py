"""Every setting Undertow reads, with its default, in one place.

Settings come from (highest first) command-line options, `UNDERTOW_*` environment variables
and the defaults below.  Components read them through `from_settings(settings)` constructors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_DB_FILE = "undertow.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings for one run."""

    db_url: str
    """SQLAlchemy URL of the store (`UNDERTOW_DB`); default a SQLite file in the working folder."""
    data_dir: Path
    """Evidence store and key live here (`UNDERTOW_DATA_DIR`); default beside the SQLite file."""
    pseudonym_key: bytes | None = None
    """Key for pseudonymising people (`UNDERTOW_PSEUDONYM_KEY`, hex); default read or made
    in `data_dir/pseudonym.key` on first use."""
    include_private: bool = False
    """Import one-to-one chats, bots and saved messages (`UNDERTOW_INCLUDE_PRIVATE=1`)."""
    source: str = "telegram_export"
    """Which registered source (`undertow.sources` entry point) `ingest` reads files with."""
    pdq_threshold: int = 31
    """Largest PDQ Hamming distance that counts as a match (the industry default is 31)."""
    pdq_dihedral: bool = False
    """Also match rotated and flipped copies: 8 PDQ hashes per image (`UNDERTOW_PDQ_DIHEDRAL`)."""
    vpdq_match_percent: int = 80
    """Share of a video's frames (quality >= 50) that must match a bank video for a vPDQ match."""
    hash_workers: int = 0
    """Processes that hash media in `undertow run`; 0 means one per CPU core."""
    parallel_ingest_bytes: int = 32 * 1024 * 1024
    """Files at least this large are parsed in a second process while this one writes (0: never)."""
    batch_size: int = 2000
    """Messages written per database round trip during ingest."""
    max_record_bytes: int = 64 * 1024 * 1024
    """Largest single JSON record (one message) an importer accepts before calling it hostile."""
    rules_dirs: tuple[Path, ...] = ()
    """Extra folders of indicator rule packs (`UNDERTOW_RULES`, separated by `:`), loaded after
    the built-in packs and `data_dir/rules` (if that folder exists)."""
    text_model: Path | None = None
    """Text classifier file (`UNDERTOW_TEXT_MODEL`) from `undertow model train`; default: the
    model shipped in the package."""
    propaganda_floor: float = 0.2
    """Combined propaganda scores at or above this become `propaganda` signals
    (`UNDERTOW_PROPAGANDA_FLOOR`); every message's score is kept in `text_features` anyway."""
    text_batch_size: int = 5000
    """Messages the text stage reads, enriches and scores per transaction."""

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def pseudonym_key_file(self) -> Path:
        return self.data_dir / "pseudonym.key"

    @property
    def rule_folders(self) -> tuple[Path, ...]:
        """User rule-pack folders, in load order: `data_dir/rules` if present, then `rules_dirs`."""
        own = self.data_dir / "rules"
        return ((own,) if own.is_dir() else ()) + self.rules_dirs

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def default_data_dir(db_url: str, cwd: Path) -> Path:
    """Keep evidence beside a SQLite file so that one folder holds a whole investigation."""
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return (
            Path(db_url.removeprefix("sqlite:///")).expanduser().resolve().parent / "undertow-data"
        )
    return cwd / "undertow-data"


def load_settings(
    db_url: str | None = None,
    data_dir: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings from explicit values, then the environment, then defaults."""
    env = os.environ if environ is None else environ
    here = Path.cwd() if cwd is None else cwd
    url = db_url or env.get("UNDERTOW_DB") or sqlite_url(here / DEFAULT_DB_FILE)
    folder = data_dir or (Path(env["UNDERTOW_DATA_DIR"]) if env.get("UNDERTOW_DATA_DIR") else None)
    key_hex = env.get("UNDERTOW_PSEUDONYM_KEY")
    key: bytes | None = None
    if key_hex:
        try:
            key = bytes.fromhex(key_hex)
        except ValueError as exc:
            raise ValueError("UNDERTOW_PSEUDONYM_KEY must be hexadecimal") from exc
        if len(key) < 16:
            raise ValueError("UNDERTOW_PSEUDONYM_KEY must be at least 16 bytes (32 hex digits)")
    return Settings(
        db_url=url,
        data_dir=(folder or default_data_dir(url, here)).expanduser(),
        pseudonym_key=key,
        include_private=env.get("UNDERTOW_INCLUDE_PRIVATE", "") in {"1", "true", "yes"},
        source=env.get("UNDERTOW_SOURCE", "telegram_export"),
        batch_size=_positive_int(env, "UNDERTOW_BATCH_SIZE", 2000),
        parallel_ingest_bytes=_positive_int(
            env, "UNDERTOW_PARALLEL_INGEST_BYTES", 32 * 1024 * 1024, minimum=0
        ),
        pdq_threshold=_positive_int(env, "UNDERTOW_PDQ_THRESHOLD", 31),
        pdq_dihedral=env.get("UNDERTOW_PDQ_DIHEDRAL", "") in {"1", "true", "yes"},
        hash_workers=_positive_int(env, "UNDERTOW_HASH_WORKERS", 0, minimum=0),
        vpdq_match_percent=_positive_int(env, "UNDERTOW_VPDQ_MATCH_PERCENT", 80),
        max_record_bytes=_positive_int(env, "UNDERTOW_MAX_RECORD_BYTES", 64 * 1024 * 1024),
        rules_dirs=tuple(
            Path(part).expanduser()
            for part in env.get("UNDERTOW_RULES", "").split(os.pathsep)
            if part
        ),
        text_model=Path(env["UNDERTOW_TEXT_MODEL"]).expanduser()
        if env.get("UNDERTOW_TEXT_MODEL")
        else None,
        propaganda_floor=_fraction(env, "UNDERTOW_PROPAGANDA_FLOOR", 0.2),
        text_batch_size=_positive_int(env, "UNDERTOW_TEXT_BATCH_SIZE", 5000),
    )


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number between 0 and 1, not {raw!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value
