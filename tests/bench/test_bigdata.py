"""The bench's generated dataset has the real schema: the indexes dropped for the fast fill
come back exactly as the migrations made them, and the rows satisfy every foreign key
(the fill does not check them row by row)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bench import bigdata
from bench.pg import admin
from registrar.db import create_engine, store_unavailable
from tests.conftest import TZ, _unavailable

pytestmark = pytest.mark.postgres

INDEXES = """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
             AND tablename = ANY(CAST(:tables AS text[])) ORDER BY 1"""
#: Rows whose reference is missing, per foreign key of the filled tables.
ORPHANS = """
SELECT (SELECT count(*) FROM assignment a LEFT JOIN "case" c ON c.id = a.case_id WHERE c.id IS NULL)
     + (SELECT count(*) FROM deadline d LEFT JOIN assignment a ON a.id = d.assignment_id
        WHERE d.assignment_id IS NOT NULL AND a.id IS NULL)
     + (SELECT count(*) FROM event e LEFT JOIN "case" c ON c.id = e.case_id WHERE c.id IS NULL)
     + (SELECT count(*) FROM rating r LEFT JOIN "case" c ON c.id = r.case_id WHERE c.id IS NULL)
"""


async def _indexes(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(INDEXES), {"tables": list(bigdata.FILLED)})
            return [(name, definition) for name, definition in rows]
    finally:
        await engine.dispose()


async def test_generated_template_keeps_the_schema_indexes_and_foreign_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setattr(bigdata, "template_name", lambda n: f"hotline_test_tpl_{suffix}_{n}")
    try:
        template = await bigdata.ensure_template(600, datetime(2026, 11, 24, 10, tzinfo=TZ))
    except Exception as exc:
        if not store_unavailable(exc):
            raise
        _unavailable(f"PostgreSQL not reachable: {exc}")
    fresh = f"hotline_test_fresh_{suffix}"
    try:
        await admin(f'CREATE DATABASE "{fresh}"')
        fresh_url = bigdata.pg_url(fresh)
        await asyncio.to_thread(bigdata.upgrade, fresh_url)
        generated = await _indexes(bigdata.pg_url(template))
        assert generated == await _indexes(fresh_url)
        assert len(generated) > 10
        engine = create_engine(bigdata.pg_url(template))
        try:
            async with engine.connect() as conn:
                assert await conn.scalar(text('SELECT count(*) FROM "case"')) == 600
                assert await conn.scalar(text(ORPHANS)) == 0
        finally:
            await engine.dispose()
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        await admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def test_template_name_follows_the_migrations_text_not_only_the_head(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two branches may both add revision 0025: their templates must not be taken for each other."""
    for source in bigdata.MIGRATIONS.glob("*.py"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(bigdata, "MIGRATIONS", tmp_path)
    before = bigdata.template_name(1000)
    newest = sorted(tmp_path.glob("*.py"))[-1]
    newest.write_bytes(newest.read_bytes() + b"\n# another branch's 0025\n")
    after = bigdata.template_name(1000)
    assert before != after
    assert before.rsplit("_", 2)[0] == after.rsplit("_", 2)[0]  # same head, other digest
    assert after.endswith("_1000")
