"""PostgreSQL: ``register_batch(jsonb)`` registers a whole intake batch in one statement

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 12:00:00

Group commit's batch cost 8 statements and 10 round trips on PostgreSQL, and the
server's CPU per statement (parse, plan, protocol) was most of a web intake's
cost. This function does what ``registrar.registration.register_many`` does, in
the same order and with the same guarantees, inside one call: contacts found or
created (``ON CONFLICT DO NOTHING``, in key order), the cases (an item stored
meanwhile is skipped and reported with its number, ``created`` false), their
contact links, attachments, the city bureau's queue (R5.2) and dispatch clock
(R7.2), then the day's case numbers, taken last under the sequence row's lock
(gap-free: a rolled-back batch gives them back), then the events and the outbox
notices, whose text carries the number through a placeholder that Python put
where ``render_notice`` wrote it. Python still renders every text, so templates
stay in one place; the payload is built by ``registrar.registration``
(``_in_server``).

SQLite keeps the Python path: it has no server and no round trips to save.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = r'''
CREATE OR REPLACE FUNCTION register_batch(p jsonb)
RETURNS TABLE (ord integer, case_id bigint, number text, query_code text, created boolean,
               contact_id bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  now_at timestamptz := (p->>'now')::timestamptz;
  ph text := p->>'ph';
  ids bigint[];
  queues bigint[];
  nums text[];
  fresh integer;
  last_seq bigint;
BEGIN
  -- Contacts: the missing ones created in key order (two batches lock them alike).
  -- Each takes the answer-by-call choice (答复方式) made now; a known contact's is changed
  -- only where one was made and differs (``registrar.contacts.resolve_keys``).
  INSERT INTO contact (kind, address, display_name, opted_out, created_at, prefers_call)
  SELECT c.kind, c.address, c.display_name, false, now_at, coalesce(c.choice, false)
  FROM jsonb_to_recordset(p->'contacts')
       AS c(kind text, address text, display_name text, choice boolean)
  WHERE NOT EXISTS (SELECT 1 FROM contact x WHERE x.kind = c.kind AND x.address = c.address)
  ORDER BY c.kind, c.address
  ON CONFLICT (kind, address) DO NOTHING;
  UPDATE contact x SET prefers_call = c.choice
  FROM jsonb_to_recordset(p->'contacts') AS c(kind text, address text, choice boolean)
  WHERE x.kind = c.kind AND x.address = c.address AND c.choice IS NOT NULL
    AND x.prefers_call IS DISTINCT FROM c.choice;

  -- The cases; one stored meanwhile (a concurrent delivery) is skipped, not an error.
  WITH src AS (
    SELECT e.ord::integer AS ord, r.*, e.j->>'ck' AS ck, e.j->>'ca' AS ca,
           e.j->>'notes_json' AS notes_json
    FROM jsonb_array_elements(p->'cases') WITH ORDINALITY AS e(j, ord),
         LATERAL jsonb_populate_record(NULL::"case", e.j) AS r),
  ins AS (
    INSERT INTO "case" (number, query_code, channel, external_id, received_at, registered_at,
                        status, text, sender, reply_address, display_name, language,
                        public_allowed, district_hint, location_hint, notes, contact_id,
                        emergency, screening_reason, classification, internal_reason, reserved,
                        parent_case_id, unit_proposes_private, publication, answer_text,
                        published_text, published_at, closed_at)
    SELECT s.number, s.query_code, s.channel, s.external_id, s.received_at, s.registered_at,
           s.status, s.text, s.sender, s.reply_address, s.display_name, s.language,
           s.public_allowed, s.district_hint, s.location_hint, s.notes_json::json,
           (SELECT x.id FROM contact x WHERE x.kind = s.ck AND x.address = s.ca),
           s.emergency, s.screening_reason, s.classification, s.internal_reason, s.reserved,
           s.parent_case_id, s.unit_proposes_private, s.publication, s.answer_text,
           s.published_text, s.published_at, s.closed_at
    FROM src s ORDER BY s.ord
    ON CONFLICT (channel, external_id) DO NOTHING
    RETURNING "case".id, "case".channel, "case".external_id)
  SELECT array_agg(ins.id ORDER BY src.ord) INTO ids
  FROM src LEFT JOIN ins ON ins.channel = src.channel AND ins.external_id = src.external_id;

  INSERT INTO case_contact (case_id, contact_id, rank)
  SELECT ids[l.item], x.id, l.rank
  FROM jsonb_to_recordset(p->'links') AS l(item integer, kind text, address text, rank integer)
  JOIN contact x ON x.kind = l.kind AND x.address = l.address
  WHERE ids[l.item] IS NOT NULL;

  INSERT INTO attachment (case_id, sha256, filename, content_type, size)
  SELECT ids[f.item], f.sha256, f.filename, f.content_type, f.size
  FROM jsonb_to_recordset(p->'files')
       AS f(item integer, sha256 text, filename text, content_type text, size bigint)
  WHERE ids[f.item] IS NOT NULL;

  -- The city bureau's queue (R5.2), one assignment per new case, in the batch's order.
  WITH ins AS (
    INSERT INTO assignment (case_id, unit_id, role, state, created_at, return_refused, late_read,
                            overdue_handling, expired_unhandled, proposes_private,
                            review_failures)
    SELECT u.id, (p->'queue'->>'unit_id')::bigint, p->'queue'->>'role', p->'queue'->>'state',
           now_at, false, false, false, false, false, 0
    FROM unnest(ids) WITH ORDINALITY AS u(id, ord) WHERE u.id IS NOT NULL ORDER BY u.ord
    RETURNING assignment.case_id, assignment.id)
  SELECT array_agg(ins.id ORDER BY u.ord) INTO queues
  FROM unnest(ids) WITH ORDINALITY AS u(id, ord) LEFT JOIN ins ON ins.case_id = u.id;

  -- Its dispatch clock (R7.2), when the caller counts one.
  IF jsonb_typeof(p->'deadline') = 'object' THEN
    INSERT INTO deadline (case_id, assignment_id, kind, rule, started_at, working_days, due_at,
                          provisional, warn_at, warned, met_at, missed)
    SELECT u.id, queues[u.ord], d.kind, d.rule, d.started_at, d.working_days, d.due_at,
           d.provisional, d.warn_at, d.warned, d.met_at, d.missed
    FROM unnest(ids) WITH ORDINALITY AS u(id, ord),
         jsonb_populate_record(NULL::deadline, p->'deadline') AS d
    WHERE u.id IS NOT NULL ORDER BY u.ord;
  END IF;

  -- The case numbers, last: the day's row stays locked only until the commit that follows.
  SELECT count(*) INTO fresh FROM unnest(ids) AS u(id) WHERE u.id IS NOT NULL;
  IF fresh > 0 THEN
    INSERT INTO case_sequence (day, last) VALUES ((p->>'day')::date, fresh)
    ON CONFLICT (day) DO UPDATE SET last = case_sequence.last + excluded.last
    RETURNING case_sequence.last INTO last_seq;
    SELECT array_agg(CASE WHEN n.id IS NULL THEN NULL
                          ELSE (p->>'head') || CASE WHEN n.seq < 1000000
                               THEN lpad(n.seq::text, 6, '0') ELSE n.seq::text END END
                     ORDER BY n.ord) INTO nums
    FROM (SELECT u.id, u.ord,
                 last_seq - fresh + count(u.id) OVER (ORDER BY u.ord) AS seq
          FROM unnest(ids) WITH ORDINALITY AS u(id, ord)) AS n;
    UPDATE "case" SET number = nums[u.ord]
    FROM unnest(ids) WITH ORDINALITY AS u(id, ord) WHERE "case".id = u.id;

    INSERT INTO event (case_id, assignment_id, at, actor, action, from_state, to_state, reason,
                       deadline, data)
    SELECT u.id, NULL, now_at, 'channel:' || (c.j->>'channel'), v.action, NULL, v.to_state,
           NULL, NULL,
           -- Written as Python's json.dumps writes them: a json column keeps its text.
           CASE WHEN v.k = 1
                THEN ('{"number": "' || nums[u.ord] || '", "attachments": '
                      || (c.j->>'attachments') || '}')::json
                ELSE ('{"unit": ' || (p->>'unit_json') || ', "assignment": '
                      || queues[u.ord] || '}')::json END
    FROM unnest(ids) WITH ORDINALITY AS u(id, ord)
    JOIN jsonb_array_elements(p->'cases') WITH ORDINALITY AS c(j, ord) ON c.ord = u.ord
    CROSS JOIN (VALUES (1, 'registered', p->>'registered'),
                       (2, 'forwarded_to_city_bureau', p->>'queued')) AS v(k, action, to_state)
    WHERE u.id IS NOT NULL ORDER BY u.ord, v.k;

    INSERT INTO notice (case_id, kind, channel, address, text, status, essential, attempts,
                        created_at, next_attempt_at, sent_at, provider_ref, last_error,
                        template_values)
    SELECT ids[o.item], o.kind, o.channel, o.address, replace(o.text, ph, nums[o.item]),
           o.status, o.essential, o.attempts, o.created_at, o.next_attempt_at, o.sent_at,
           o.provider_ref, o.last_error,
           replace(o.template_values_json, p->>'ph_json', nums[o.item])::json
    FROM jsonb_to_recordset(p->'notices')
         AS o(item integer, kind text, channel text, address text, text text, status text,
              essential boolean, attempts integer, created_at timestamptz,
              next_attempt_at timestamptz, sent_at timestamptz, provider_ref text,
              last_error text, template_values_json text)
    WHERE ids[o.item] IS NOT NULL;
  END IF;

  -- New cases with their numbers; the others with the case stored before.
  RETURN QUERY
  SELECT u.ord::integer, u.id, nums[u.ord], k.query_code::text, true, k.contact_id
  FROM unnest(ids) WITH ORDINALITY AS u(id, ord) JOIN "case" k ON k.id = u.id
  UNION ALL
  SELECT u.ord::integer, k.id, k.number::text, k.query_code::text, false, k.contact_id
  FROM unnest(ids) WITH ORDINALITY AS u(id, ord)
  JOIN jsonb_array_elements(p->'cases') WITH ORDINALITY AS c(j, ord) ON c.ord = u.ord
  JOIN "case" k ON k.channel = c.j->>'channel' AND k.external_id = c.j->>'external_id'
  WHERE u.id IS NULL;
END
$fn$
'''


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS register_batch(jsonb)")
