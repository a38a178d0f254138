"""``hotline demo seed --months N`` (issue 15.6): a history through the real workflow, only into a
database without cases, ending now, with the summaries the cockpit reads already up to date."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from config.settings import Settings
from intake.cli_demo import seed_history
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case, Event
from registrar.models_cockpit import IntakeHour, UnitDay


async def test_demo_history_fills_an_empty_database_once(settings: Settings, tmp_path: Path) -> None:
    said = await seed_history(settings, months=1, cases=24)
    assert said.startswith("history: ") and "0 action(s) refused" in said
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            registered = await session.scalar(select(func.count()).select_from(Case).where(
                Case.parent_case_id.is_(None)))
            assert registered == await session.scalar(select(func.sum(IntakeHour.count)))
            assert (await session.scalar(select(func.sum(UnitDay.dispatched))) or 0) > 0
            actions = set((await session.execute(select(Event.action).distinct())).scalars())
    finally:
        await engine.dispose()
    assert registered is not None and 20 <= registered <= 24
    assert {"read", "submit", "pass", "case_close"} <= actions
    assert (await seed_history(settings, months=1, cases=24)).startswith("history skipped")
