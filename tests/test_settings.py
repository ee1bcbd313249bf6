"""Settings: defaults, environment, validation, and every setting documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from undertow.settings import Settings, load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"
ENV_NAMES = {
    "db_url": "UNDERTOW_DB",
    "data_dir": "UNDERTOW_DATA_DIR",
    "pseudonym_key": "UNDERTOW_PSEUDONYM_KEY",
    "include_private": "UNDERTOW_INCLUDE_PRIVATE",
    "source": "UNDERTOW_SOURCE",
    "batch_size": "UNDERTOW_BATCH_SIZE",
    "max_record_bytes": "UNDERTOW_MAX_RECORD_BYTES",
    "pdq_threshold": "UNDERTOW_PDQ_THRESHOLD",
    "pdq_dihedral": "UNDERTOW_PDQ_DIHEDRAL",
    "hash_workers": "UNDERTOW_HASH_WORKERS",
    "vpdq_match_percent": "UNDERTOW_VPDQ_MATCH_PERCENT",
    "parallel_ingest_bytes": "UNDERTOW_PARALLEL_INGEST_BYTES",
    "rules_dirs": "UNDERTOW_RULES",
    "text_model": "UNDERTOW_TEXT_MODEL",
    "propaganda_floor": "UNDERTOW_PROPAGANDA_FLOOR",
    "text_batch_size": "UNDERTOW_TEXT_BATCH_SIZE",
}


def test_defaults_put_store_and_evidence_in_the_working_folder(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.db_url == f"sqlite:///{tmp_path / 'undertow.db'}"
    assert settings.data_dir == tmp_path / "undertow-data"
    assert settings.evidence_dir == tmp_path / "undertow-data" / "evidence"
    assert settings.pseudonym_key is None and not settings.include_private


def test_environment_and_explicit_values(tmp_path: Path) -> None:
    env = {
        "UNDERTOW_DB": "postgresql://u@h/db",
        "UNDERTOW_DATA_DIR": str(tmp_path / "d"),
        "UNDERTOW_PSEUDONYM_KEY": "ab" * 16,
        "UNDERTOW_INCLUDE_PRIVATE": "1",
        "UNDERTOW_BATCH_SIZE": "50",
    }
    settings = load_settings(environ=env, cwd=tmp_path)
    assert settings.db_url == "postgresql://u@h/db"
    assert settings.data_dir == tmp_path / "d"
    assert settings.pseudonym_key == bytes.fromhex("ab" * 16)
    assert settings.include_private and settings.batch_size == 50
    assert load_settings("sqlite:////x/y.db", environ=env).db_url == "sqlite:////x/y.db"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UNDERTOW_PSEUDONYM_KEY": "zz"}, "hexadecimal"),
        ({"UNDERTOW_PSEUDONYM_KEY": "abcd"}, "at least 16 bytes"),
        ({"UNDERTOW_BATCH_SIZE": "lots"}, "whole number"),
        ({"UNDERTOW_MAX_RECORD_BYTES": "0"}, "at least 1"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(environ=env)


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert fields == set(ENV_NAMES), "a setting was added without an environment name here"
    missing = [env for env in ENV_NAMES.values() if env not in text]
    assert not missing, f"settings missing from docs/user-guide.md: {missing}"


def test_text_settings_are_read_and_checked(tmp_path: Path) -> None:
    env = {
        "UNDERTOW_RULES": f"{tmp_path / 'a'}:{tmp_path / 'b'}",
        "UNDERTOW_TEXT_MODEL": str(tmp_path / "m.utm"),
        "UNDERTOW_PROPAGANDA_FLOOR": "0.35",
    }
    settings = load_settings(environ=env, cwd=tmp_path)
    assert settings.rules_dirs == (tmp_path / "a", tmp_path / "b")
    assert settings.text_model == tmp_path / "m.utm"
    assert settings.propaganda_floor == 0.35
    (settings.data_dir / "rules").mkdir(parents=True)
    assert settings.rule_folders == (settings.data_dir / "rules", tmp_path / "a", tmp_path / "b")
    with pytest.raises(ValueError, match="between 0 and 1"):
        load_settings(environ={"UNDERTOW_PROPAGANDA_FLOOR": "2"}, cwd=tmp_path)
