"""Large PostgreSQL datasets in the real schema, for the page and sweep figures at 10 k and 1 M cases.

The question these figures answer is whether a page view or a sweep costs more
as the *history* grows, so both sizes have the same daily flow
(``PER_DAY`` cases a day, a mid-sized city's) and differ in how many days lie
behind today: 10 000 cases are three days, 1 000 000 almost a year. The open
work (the bureau's queue, a unit's inbox, the clocks still running) is
therefore about the same in both; what grows is the closed history that every
list must not scan.

Rows are written with set-based SQL (``INSERT … SELECT … FROM generate_series``)
after ``registrar.migrate.upgrade`` and the demo organisation, so the
constraints, indexes and triggers are the real ones. Status follows age: a
case from today may still be registered or queued, one from the last weeks is
being handled, an old one is almost always closed (a few stay open, late).
Units, districts and channels are spread by a multiplicative hash of the
case id, so the data is the same on every run.

A generated database is kept as a template named after the schema head and the
size (``hotline_bench_tpl_<head>_<digest>_<n>``); each run works on a copy
(``CREATE DATABASE … TEMPLATE``), so ``make bench`` pays for generation once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.pg import admin, database_exists, pg_url
from config.organisation import load_organisation
from config.settings import DEMO_ORGANISATION_FILE
from desks.access.accounts import seed_demo_accounts
from registrar.db import create_engine, make_sessionmaker
from registrar.migrate import alembic_config, upgrade
from registrar.roster import sync_organisation

MIGRATIONS = Path(__file__).resolve().parent.parent / "registrar" / "migrations" / "versions"
PER_DAY = 3000
"""Cases a day in both datasets: a mid-sized city's ordinary day."""
PREFIX = "FZ12345"
#: A cheap, deterministic spread of ``i`` over 0..9999 (Knuth's multiplicative hash).
H = "((({i})::bigint * 2654435761) % 4294967296 % 10000)"

TEXTS = ("台江区八一七路井盖缺失，夜间很危险", "鼓楼区五四路工地夜间施工噪音扰民",
         "仓山区金山大道路灯不亮已有一周",
         "晋安区福新路小区垃圾清运不及时", "马尾区快安路公交站台破损", "长乐区吴航街道餐馆油烟扰民",
         "闽侯县上街镇自来水水压不足", "鼓楼区东街口人行道被占用停车")

CASES = f"""
INSERT INTO "case" (id, number, query_code, channel, external_id, received_at, registered_at,
    status, text, sender, reply_address, language, public_allowed, district_hint, notes,
    reserved, unit_proposes_private, classification, closed_at)
SELECT i, CAST(:prefix AS text) || '-' || to_char(reg AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || '-'
          || lpad(row_number() OVER (PARTITION BY (reg AT TIME ZONE 'Asia/Shanghai')::date
                                     ORDER BY i)::text, 6, '0'),
       substr(md5(i::text), 1, 8),
       (ARRAY['web','phone','phone','web','sms_modem','fax','twilio_voice','email'])[1 + h % 8],
       'bench-' || i, reg - interval '1 second', reg, status,
       (CAST(:texts AS text[]))[1 + h % 8] || '（第' || i || '号）',
       '+86139' || lpad((h * 97 + i % 1000)::text, 8, '0'),
       '+86139' || lpad((h * 97 + i % 1000)::text, 8, '0'), 'zh-Hans', h % 10 < 8,
       (SELECT array_agg(district ORDER BY id) FROM unit WHERE kind = 'district_bureau')[1 + h % 13],
       '[]', false, false,
       CASE WHEN status IN ('registered', 'not_accepted') THEN NULL
            WHEN h % 10 >= 8 THEN 'internal' ELSE 'public' END,
       CASE WHEN status IN ('closed', 'not_accepted', 'stopped') THEN reg + interval '12 days' END
FROM (
  SELECT i, h, reg,
         CASE WHEN age < 0.5 THEN (ARRAY['registered','accepted','dispatched','dispatched'])[1 + h % 4]
              WHEN age < 20 THEN (ARRAY['dispatched','dispatched','dispatched','answered','closed',
                                        'not_accepted','dispatched','closed','dispatched',
                                        'dispatched'])[1 + h % 10]
              WHEN h % 100 = 0 THEN 'dispatched'
              WHEN h % 100 < 4 THEN 'not_accepted'
              ELSE 'closed' END AS status
  FROM (SELECT i, {H.format(i='i')} AS h,
               CAST(:now AS timestamptz)
                 - make_interval(secs => (CAST(:n AS bigint) - i) * 86400.0
                                         / CAST(:per_day AS bigint)) AS reg,
               (CAST(:n AS bigint) - i) / (CAST(:per_day AS bigint))::float AS age
        FROM generate_series(1, CAST(:n AS bigint)) AS i) AS g) AS s
"""

#: Every case gets the city bureau's queue assignment (done unless still registered or
#: accepted), every handled one a lead unit; ids: 2i-1 for the queue, 2i for the lead.
ASSIGNMENTS = f"""
INSERT INTO assignment (id, case_id, unit_id, role, state, created_at, return_refused,
    late_read, overdue_handling, expired_unhandled, proposes_private, review_failures)
SELECT 2 * c.id - 1, c.id, (SELECT id FROM unit WHERE kind = 'city_bureau'), 'bureau',
       CASE WHEN c.status IN ('registered', 'accepted') THEN 'queued' ELSE 'done' END,
       c.registered_at, false, false, false, false, false, 0
FROM "case" c
UNION ALL
SELECT 2 * c.id, c.id, u.id, 'lead',
       CASE WHEN c.status IN ('answered', 'closed') THEN 'passed'
            ELSE (ARRAY['dispatched','read','read','drafted','approved','submitted','redo',
                        'return_requested'])[1 + h.h % 8] END,
       c.registered_at + interval '2 hours', false,
       h.h % 20 = 0,
       c.status = 'dispatched' AND c.registered_at < CAST(:now AS timestamptz) - interval '20 days',
       false, false, CASE WHEN h.h % 10 = 0 THEN 1 ELSE 0 END
FROM "case" c CROSS JOIN LATERAL (SELECT {H.format(i='c.id')} AS h) h
JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS m FROM unit
      WHERE kind IN ('city_unit', 'district_unit')) u ON u.k = (h.h / 7) % u.m
WHERE c.status IN ('dispatched', 'answered', 'closed')
"""

#: The clocks: dispatch on the queue (R7.2), read (R8.1), answer (R8.2a), for answers under
#: review, review (R8.4a), and for returns asked, the bureau's decision (R8.3a: ``request_return``
#: always opens one; without it the queue's returns would all be clockless, which the workflow
#: never writes). Met ones stop when the work was done; 5 % were late.
DEADLINES = """
INSERT INTO deadline (case_id, assignment_id, kind, rule, started_at, working_days, due_at,
    provisional, warn_at, warned, met_at, missed, cancelled)
SELECT a.case_id, a.id, k.kind, k.rule, a.created_at, k.days, a.created_at + k.span,
       false, a.created_at + k.span - interval '4 hours',
       k.open AND a.created_at + k.span - interval '4 hours' < CAST(:now AS timestamptz),
       CASE WHEN k.open THEN NULL
            WHEN a.id % 20 = 0 THEN a.created_at + k.span + interval '3 hours'
            ELSE a.created_at + k.span / 3 END,
       k.open AND a.created_at + k.span < CAST(:now AS timestamptz), false
FROM assignment a CROSS JOIN LATERAL (VALUES
    ('dispatch', 'R7.2', 1, interval '1 day', a.state = 'queued', a.role = 'bureau'),
    ('read', 'R8.1', 2, interval '2 days', a.state = 'dispatched', a.role = 'lead'),
    ('answer', 'R8.2a', 10, interval '14 days',
     a.state IN ('dispatched', 'read', 'drafted', 'approved', 'redo', 'return_requested'), a.role = 'lead'),
    ('review', 'R8.4a', 2, interval '2 days', a.state = 'submitted', a.role = 'lead' AND a.state IN
     ('submitted', 'passed')),
    ('return_decision', 'R8.3a', 1, interval '1 day', true, a.role = 'lead' AND a.state = 'return_requested')
) AS k(kind, rule, days, span, open, applies)
WHERE k.applies
"""

#: The event log: registration, dispatch, the answer and the close; the sweeper's charges.
EVENTS = """
INSERT INTO event (case_id, assignment_id, at, actor, action, from_state, to_state, data)
SELECT c.id, NULL, c.registered_at, 'system', 'registered', NULL, 'registered', '{}'::json FROM "case" c
UNION ALL
SELECT a.case_id, a.id, a.created_at, 'city@city-bureau', 'dispatched', NULL, 'dispatched', '{}'::json
FROM assignment a WHERE a.role = 'lead'
UNION ALL
SELECT a.case_id, a.id, a.created_at + interval '5 days', 'urban@unit', 'answered', 'approved',
       'submitted', '{}'::json FROM assignment a WHERE a.role = 'lead' AND a.state = 'passed'
UNION ALL
SELECT c.id, NULL, c.closed_at, 'city@city-bureau', 'case_close', 'answered', 'closed', '{}'::json
FROM "case" c WHERE c.closed_at IS NOT NULL
UNION ALL
SELECT d.case_id, d.assignment_id, d.due_at, 'system',
       CASE d.kind WHEN 'read' THEN 'late_read' ELSE 'overdue_handling' END, NULL, NULL,
       json_build_object('rule', d.rule)
FROM deadline d WHERE d.missed OR d.met_at > d.due_at
"""

RATINGS = """
INSERT INTO rating (case_id, score, created_at)
SELECT c.id, 1 + c.id % 5, c.closed_at + interval '1 day' FROM "case" c
WHERE c.status = 'closed' AND c.id % 3 = 0
"""

FINISH = """
INSERT INTO case_sequence (day, last) SELECT (registered_at AT TIME ZONE 'Asia/Shanghai')::date, count(*) \
FROM "case" GROUP BY 1;
SELECT setval(pg_get_serial_sequence('deadline', 'id'), (SELECT max(id) FROM deadline));
SELECT setval(pg_get_serial_sequence('"case"', 'id'), (SELECT max(id) FROM "case"));
SELECT setval(pg_get_serial_sequence('assignment', 'id'), (SELECT max(id) FROM assignment));
"""


def schema_head() -> str:
    """The newest migration's revision: a template is only reused for the same schema."""
    from alembic.script import ScriptDirectory
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return head or "none"


def template_name(n: int) -> str:
    """Named by the schema head and a digest of every migration and of this generator, so a
    renumbered or edited migration (two branches may both add the same revision number) or a
    changed generator never reuses a template built from other code."""
    digest = hashlib.sha256()
    for path in [*sorted(MIGRATIONS.glob("*.py")), Path(__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"hotline_bench_tpl_{schema_head()}_{digest.hexdigest()[:8]}_{n}"


FILLED = ("case", "assignment", "deadline", "event", "rating")
#: A generator's transaction, not the service's: foreign keys are not checked row by row
#: (``replica`` skips the RI triggers; the rows are consistent by construction and the
#: tables have no other INSERT triggers), the commit need not wait for the disk, and index
#: builds get memory.
FAST_FILL = ("SET LOCAL session_replication_role = replica", "SET LOCAL synchronous_commit = off",
             "SET LOCAL maintenance_work_mem = '256MB'", "SET LOCAL work_mem = '64MB'")
SECONDARY_INDEXES = """
SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relname = ANY(CAST(:tables AS text[])) AND t.relnamespace = 'public'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
  AND x.indpred IS NULL
ORDER BY 1
"""
"""The secondary indexes the fill drops and builds again. Partial ones stay: they hold only
open work (cheap to fill), and ``pg_get_indexdef`` would not give their predicate back as the
migration wrote it (the ``IN`` list comes back as casts of an array)."""


async def fill(conn: AsyncConnection, n: int, now: datetime) -> None:
    """Write ``n`` cases and everything that hangs off them, ending at ``now``.

    The secondary indexes are dropped first and built again at the end: one sort per index
    instead of a million scattered insertions each (at 1 M cases about three times faster;
    the first ``make bench`` after a schema change has to do this, so it must fit).
    """
    params = {"n": n, "now": now, "per_day": PER_DAY, "prefix": PREFIX, "texts": list(TEXTS)}
    for setting in FAST_FILL:
        await conn.execute(text(setting))
    indexes = (await conn.execute(text(SECONDARY_INDEXES), {"tables": list(FILLED)})).all()
    for name, _ in indexes:
        await conn.execute(text(f'DROP INDEX "{name}"'))
    for name, sql in (("cases", CASES), ("assignments", ASSIGNMENTS), ("deadlines", DEADLINES),
                      ("events", EVENTS), ("ratings", RATINGS)):
        began = time.perf_counter()
        used = {k: v for k, v in params.items() if f":{k} " in sql}
        await conn.execute(text(sql), used)
        print(f"    {name}: {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    for _, definition in indexes:
        await conn.execute(text(definition))
    print(f"    {len(indexes)} indexes rebuilt: {time.perf_counter() - began:.1f} s", flush=True)
    for statement in FINISH.strip().splitlines():
        await conn.execute(text(statement))
    # The pages are measured at the moment the data ends, whenever the template is reused.
    await conn.execute(text("CREATE TABLE bench_meta (now TIMESTAMPTZ NOT NULL)"))
    await conn.execute(text("INSERT INTO bench_meta VALUES (CAST(:now AS timestamptz))"), {"now": now})


async def ensure_template(n: int, now: datetime) -> str:
    """The template database of ``n`` cases, generated once per schema head and size."""
    name = template_name(n)
    if await database_exists(name):
        return name
    building = name + "_building"
    await admin(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{building}"')
    url = pg_url(building)
    print(f"  generating {n} cases into {name} (once per schema head)", flush=True)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            await sync_organisation(session, load_organisation(DEMO_ORGANISATION_FILE), now=now)
            await seed_demo_accounts(session, now)
        async with engine.begin() as conn:
            await fill(conn, n, now)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    await admin(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    return name


async def copy_of(template: str, name: str) -> str:
    """A fresh database ``name`` copied from ``template`` (cheap: a file copy); its URL."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return pg_url(name)
