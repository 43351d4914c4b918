"""Schema migrations."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from storage import db
from storage.models import Base


def test_migrations_apply_to_an_empty_database_and_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrations_leave_nothing_for_autogenerate(migrated_template: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = migrated_template if "://" in migrated_template else f"sqlite:///{migrated_template}"
    engine = db.make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    db.upgrade(url)
    db.upgrade(url)
    assert Path(tmp_path / "twice.db").exists()
