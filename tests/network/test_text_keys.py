"""Text keys: each message's cleaned text hashed once by the near-duplicate step, read by the
mirror step instead of the text; a store from before them gets them on its next run."""

from __future__ import annotations

from hashlib import blake2b
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from undertow.ingest import ingest_paths
from undertow.network.minhash import clean_text
from undertow.settings import load_settings, sqlite_url
from undertow.simulate import simulate_world
from undertow.stages.neardup import MIN_KEY_CHARS, NEARDUP_STAGE
from undertow.stages.network import analyse_network
from undertow.stages.watermarks import get_watermark, set_watermark
from undertow.store import open_store, schema
from undertow.store.database import alembic_config


def _keys(url: str) -> tuple[dict[int, str], dict[int, int]]:
    store = open_store(url)
    with store.engine.connect() as conn:
        m = schema.messages
        texts = dict(conn.execute(sa.select(m.c.id, m.c.text).where(m.c.kind == "message")).all())
        keys = dict(
            conn.execute(sa.select(schema.text_keys.c.id, schema.text_keys.c.text_key)).all()
        )
    store.close()
    return texts, keys


def test_every_long_enough_text_gets_the_hash_of_its_clean_form(tmp_path: Path) -> None:
    simulate_world(tmp_path / "world", seed=8, scale=1)
    settings = load_settings(sqlite_url(tmp_path / "u.db"), tmp_path / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [tmp_path / "world" / "exports"])
    analyse_network(store, settings)
    store.close()
    texts, keys = _keys(settings.db_url)
    cleaned = {i: clean_text(text or "") for i, text in texts.items()}
    assert set(keys) == {i for i, text in cleaned.items() if len(text) >= MIN_KEY_CHARS}
    assert 0 < len(keys) < len(texts)  # short texts (and pictures alone) have none
    for i, key in keys.items():
        digest = blake2b(cleaned[i].encode(), digest_size=8).digest()
        assert key == int.from_bytes(digest, "little", signed=True)
    # Copies of one post (the mirrors' re-posts) share a key, and only they do.
    by_key: dict[int, set[str]] = {}
    for i, key in keys.items():
        by_key.setdefault(key, set()).add(cleaned[i])
    assert all(len(forms) == 1 for forms in by_key.values())
    assert any(len([k for k in keys.values() if k == key]) > 1 for key in by_key)


def test_a_store_from_before_text_keys_gets_them_on_its_next_run(tmp_path: Path) -> None:
    """The upgrade resets the near-duplicate watermark: the next run signs every message again
    (its pairs are upserts) and writes the keys of the messages indexed before."""
    simulate_world(tmp_path / "world", seed=21, scale=1)
    settings = load_settings(sqlite_url(tmp_path / "u.db"), tmp_path / "data")
    store = open_store(settings.db_url)
    ingest_paths(store, settings, [tmp_path / "world" / "exports"])
    analyse_network(store, settings)
    with store.engine.begin() as conn:
        pairs = conn.execute(sa.select(sa.func.count()).select_from(schema.text_copies)).scalar()
        command.downgrade(alembic_config(conn), "0008")
        set_watermark(conn, NEARDUP_STAGE, 10**9)  # everything indexed, as before the upgrade
    store.close()

    store = open_store(settings.db_url)
    with store.engine.connect() as conn:
        assert get_watermark(conn, NEARDUP_STAGE) == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.text_keys)).scalar() == 0
    analyse_network(store, settings)
    with store.engine.connect() as conn:
        again = conn.execute(sa.select(sa.func.count()).select_from(schema.text_copies)).scalar()
    store.close()
    _, keys = _keys(settings.db_url)
    assert keys and again == pairs
