"""hl_route() learns of cases: a repeat caller with an open case is routed to the case's region,
offered the case's counsellor first and given priority 5 (PRODUCT.md §2)

The rules of migration 0008, with three changes: the region of the caller's open case comes after
the area code and before the region of their most recent answered call (region reason
``open_case``); such a call has priority 5 (emergencies keep 10); the counsellor assigned to the case
is offered before the caller's previous counsellor (pick reason ``case_counsellor``). The decision's
inputs name the open case's id (not personal data).

Revision ID: 0010_route_open_cases
Revises: 0009_records
Create Date: 2026-11-28 16:20:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0010_route_open_cases"
down_revision: str | Sequence[str] | None = "0009_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROUTE = """CREATE OR REPLACE FUNCTION hl_route(
    p_switchboard text,        -- the switchboard asking
    p_linkedid text,           -- the call there
    p_call_switchboard text,   -- the call record: the origin's when the call was overflowed here
    p_call_linkedid text,
    p_now timestamptz,
    p_caller_hash bytea,       -- keyed hash of the normalised number, NULL when withheld
    p_ivr_region text,         -- the IVR's region (chosen, or the province's), NULL when none
    p_area_region text,        -- the landline area code's region, NULL for mobiles
    p_emergency boolean,
    p_language text,
    p_previous_target text,    -- the dial target the dialplan reports as failed
    p_origin boolean,          -- the call was sent here by another switchboard
    p_attempt integer,
    p_inputs jsonb,
    p_elapsed_ms double precision  -- the service's time before this statement
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    here record;
    prev record;
    open_case record;
    lapsed record;
    v_call_id bigint;
    v_wait_started timestamptz;
    v_prev_user integer;
    v_prev_region text;
    v_repeat boolean := false;
    v_case_id bigint;
    v_case_user integer;
    v_case_region text;
    v_region text;
    v_region_reason text;
    v_priority integer;
    v_waiting_id bigint;
    v_status text;
    v_waited double precision;
    v_inputs jsonb;
    v_target text;
    v_reason text;
    v_cause text;
    v_dial text;
    v_position integer;
    v_user integer;
    v_ext text;
    v_speaks boolean;
    -- the answer and what is stored with it
    a_action text := 'wait';
    a_reason text := 'waiting';
    a_target text;
    a_queue text;
    a_timeout integer;
    a_seconds integer;
    a_position integer;
    a_priority integer;
    d_target_board text;
    d_counsellor integer;
BEGIN
    -- one decision at a time per switchboard, with any number of service processes
    PERFORM set_config('lock_timeout', '2000ms', true);
    PERFORM pg_advisory_xact_lock(hashtext('route:' || p_switchboard));

    SELECT s.*, sb.region, sb.always_open INTO here
    FROM routing_settings s JOIN switchboards sb ON sb.code = s.switchboard_code
    WHERE s.switchboard_code = p_switchboard;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'switchboard % has no routing settings', p_switchboard;
    END IF;

    -- the call record: the wait starts with the first request (earliest wins)
    INSERT INTO calls AS c (switchboard_code, linkedid, started_at, last_event_at, wait_started_at)
    VALUES (p_call_switchboard, p_call_linkedid, p_now, p_now, p_now)
    ON CONFLICT (switchboard_code, linkedid) DO UPDATE SET
        started_at = LEAST(c.started_at, EXCLUDED.started_at),
        last_event_at = GREATEST(c.last_event_at, EXCLUDED.last_event_at),
        wait_started_at = LEAST(c.wait_started_at, EXCLUDED.wait_started_at)
    RETURNING c.id, c.wait_started_at INTO v_call_id, v_wait_started;

    -- 1. the caller's region: IVR, area code, their open case, the most recent answered call, the
    -- switchboard's
    IF p_caller_hash IS NOT NULL THEN
        SELECT c.id, c.region, c.assigned_user_id INTO open_case
        FROM cases c WHERE c.caller_hash = p_caller_hash AND c.status <> 'closed'
        ORDER BY c.status_changed_at DESC LIMIT 1;
        IF FOUND THEN
            v_case_id := open_case.id;
            v_case_region := open_case.region;
            v_case_user := open_case.assigned_user_id;
        END IF;
        SELECT c.caller_region, sb.region, c.counsellor_user_id INTO prev
        FROM calls c JOIN switchboards sb ON sb.code = COALESCE(c.answered_switchboard, c.switchboard_code)
        WHERE c.caller_hash = p_caller_hash AND c.answered_at IS NOT NULL AND c.id <> v_call_id
        ORDER BY c.answered_at DESC LIMIT 1;
        IF FOUND THEN
            v_repeat := true;
            v_prev_region := COALESCE(prev.caller_region, prev.region);
            v_prev_user := prev.counsellor_user_id;
        END IF;
    END IF;
    IF p_ivr_region IS NOT NULL THEN
        v_region := p_ivr_region; v_region_reason := 'ivr';
    ELSIF p_area_region IS NOT NULL THEN
        v_region := p_area_region; v_region_reason := 'area_code';
    ELSIF v_case_region IS NOT NULL THEN
        v_region := v_case_region; v_region_reason := 'open_case';
    ELSIF v_prev_region IS NOT NULL THEN
        v_region := v_prev_region; v_region_reason := 'repeat_caller';
    ELSE
        v_region := here.region; v_region_reason := 'default';
    END IF;

    -- 10 emergency, 5 a repeat caller with an open case, 0 the rest; the case's counsellor first
    v_priority := CASE WHEN p_emergency THEN 10 WHEN v_case_id IS NOT NULL THEN 5 ELSE 0 END;
    v_prev_user := COALESCE(v_case_user, v_prev_user);

    -- offers that lapsed, or the one the dialplan reports as failed: missed, the counsellor unavailable
    FOR lapsed IN
        WITH l AS (
            SELECT p.user_id, p.call_id, e.extension FROM counsellor_presence p
            JOIN user_extensions e ON e.user_id = p.user_id AND e.switchboard_code = p.switchboard_code
            WHERE p.switchboard_code = p_switchboard AND p.state = 'reserved'
              AND (p.reserved_until < p_now OR (p.call_id = v_call_id AND e.extension = p_previous_target))
            FOR UPDATE OF p)
        UPDATE counsellor_presence p SET state = 'missed', since = p_now, call_id = NULL, reserved_until = NULL
        FROM l WHERE p.user_id = l.user_id
        RETURNING l.user_id, l.extension, l.call_id
    LOOP
        IF lapsed.call_id IS NOT NULL THEN
            INSERT INTO call_offers (call_id, switchboard_code, extension, user_id, offered_at, result)
            VALUES (lapsed.call_id, p_switchboard, lapsed.extension, lapsed.user_id, p_now, 'noanswer')
            ON CONFLICT DO NOTHING;
        END IF;
        UPDATE waiting_calls SET status = 'waiting', offered_user_id = NULL, updated_at = now()
        WHERE switchboard_code = p_switchboard AND offered_user_id = lapsed.user_id AND status = 'offered';
    END LOOP;

    -- the call in this switchboard's queue
    INSERT INTO waiting_calls AS w (switchboard_code, linkedid, call_id, priority, wait_started_at, region,
                                    language, emergency, previous_user_id, status)
    VALUES (p_switchboard, p_linkedid, v_call_id, v_priority, v_wait_started, v_region, p_language,
            p_emergency, v_prev_user, 'waiting')
    ON CONFLICT (switchboard_code, linkedid) DO UPDATE SET
        priority = GREATEST(w.priority, EXCLUDED.priority),
        emergency = w.emergency OR EXCLUDED.emergency,
        status = CASE WHEN w.status IN ('offered', 'transferred') THEN 'waiting' ELSE w.status END,
        updated_at = now()
    RETURNING w.id, w.priority, w.status INTO v_waiting_id, v_priority, v_status;
    v_waited := extract(epoch FROM p_now - v_wait_started);
    v_inputs := p_inputs || jsonb_build_object('waited_seconds', round(v_waited::numeric, 1),
                                               'repeat_caller', v_repeat, 'open_case_id', v_case_id);

    <<decide>>
    BEGIN
        IF v_status IN ('connected', 'ended') THEN
            -- answered or ended meanwhile: nothing to distribute
            a_seconds := here.wait_seconds; a_position := 0; a_priority := v_priority;
            EXIT decide;
        END IF;

        -- 2. the target switchboard
        IF p_origin THEN
            v_target := p_switchboard; v_reason := 'origin';  -- an overflowed call is served where it was sent
        ELSE
            v_target := CASE v_region WHEN 'north' THEN 'hanoi' WHEN 'central' THEN 'danang'
                                      WHEN 'south' THEN 'angiang' END;
            v_cause := hl_board_trouble(v_target, p_now, v_waited);
            IF v_cause IS NULL THEN
                v_reason := v_region_reason;
            ELSE
                v_reason := v_cause;
                IF v_target <> 'hanoi' AND hl_board_trouble('hanoi', p_now, v_waited) IS NULL THEN
                    v_target := 'hanoi';
                ELSE
                    -- any open switchboard with a counsellor available, this one first
                    SELECT s.switchboard_code INTO v_target
                    FROM routing_settings s JOIN switchboards sb ON sb.code = s.switchboard_code
                    WHERE hl_board_open(sb.always_open, s.opening_hours, p_now)
                      AND hl_board_staffed(s.switchboard_code, p_now, true)
                    ORDER BY s.switchboard_code <> p_switchboard, s.switchboard_code LIMIT 1;
                    v_target := COALESCE(v_target, p_switchboard);
                END IF;
            END IF;
        END IF;
        d_target_board := v_target;
        IF v_target <> p_switchboard THEN
            v_dial := here.transfer_targets ->> v_target;
            IF coalesce(v_dial, '') <> '' THEN
                UPDATE waiting_calls SET status = 'transferred', updated_at = now() WHERE id = v_waiting_id;
                a_action := 'transfer'; a_reason := v_reason; a_target := v_dial;
                EXIT decide;
            END IF;
            v_reason := 'no_transfer_target';  -- nowhere to send it: serve it here
            d_target_board := p_switchboard;
        END IF;

        -- 3. the call's place in the queue: priority, then first come
        SELECT count(*) + 1 INTO v_position FROM waiting_calls w
        WHERE w.switchboard_code = p_switchboard AND w.status = 'waiting' AND w.id <> v_waiting_id
          AND (w.priority > v_priority
               OR (w.priority = v_priority AND (w.wait_started_at, w.id) < (v_wait_started, v_waiting_id)));

        -- 4. the counsellor: the calls ahead take the counsellors ahead; the previous one first, then
        -- the longest idle who speaks the caller's language (any language after language_wait_seconds)
        SELECT p.user_id, e.extension, p_language = ANY(u.languages) INTO v_user, v_ext, v_speaks
        FROM counsellor_presence p
        JOIN user_extensions e ON e.user_id = p.user_id AND e.switchboard_code = p.switchboard_code
        JOIN users u ON u.id = p.user_id
        WHERE p.switchboard_code = p_switchboard AND u.is_active
          AND (p.state = 'available' OR (p.state = 'wrap_up' AND p.wrap_up_until <= p_now))
          AND (v_waited >= here.language_wait_seconds OR p_language = ANY(u.languages))
        ORDER BY (p.user_id = v_prev_user) IS TRUE DESC,
                 COALESCE(CASE WHEN p.state = 'wrap_up' THEN p.wrap_up_until END, p.idle_since, p.since),
                 p.user_id
        LIMIT 1 OFFSET v_position - 1
        FOR UPDATE OF p SKIP LOCKED;
        IF v_user IS NOT NULL THEN
            UPDATE counsellor_presence SET state = 'reserved', since = p_now, call_id = v_call_id,
                reserved_until = p_now + make_interval(secs => here.ring_timeout_seconds), wrap_up_until = NULL
            WHERE user_id = v_user;
            UPDATE waiting_calls SET status = 'offered', offered_user_id = v_user, updated_at = now()
            WHERE id = v_waiting_id;
            d_counsellor := v_user;
            a_action := 'dial'; a_target := v_ext; a_timeout := here.ring_timeout_seconds;
            a_priority := v_priority;
            a_reason := CASE
                WHEN v_reason NOT IN ('ivr', 'area_code', 'open_case', 'repeat_caller', 'default', 'origin')
                    THEN v_reason
                WHEN v_user = v_case_user THEN 'case_counsellor'
                WHEN v_user = v_prev_user THEN 'previous_counsellor'
                WHEN v_speaks THEN 'longest_idle'
                ELSE 'any_language' END;
            EXIT decide;
        END IF;

        IF v_waited >= here.max_wait_seconds THEN
            -- nobody could take it in time: the service's last-resort limit ends the wait
            UPDATE calls SET timed_out_at = LEAST(timed_out_at, p_now) WHERE id = v_call_id;
            UPDATE waiting_calls SET status = 'ended', updated_at = now() WHERE id = v_waiting_id;
            a_action := 'queue'; a_reason := 'wait_limit'; a_queue := here.local_queue;
            a_priority := v_priority;
            EXIT decide;
        END IF;
        a_seconds := here.wait_seconds; a_position := v_position; a_priority := v_priority;
    END;

    INSERT INTO routing_decisions (switchboard_code, linkedid, call_id, attempt, action, target, reason,
        region, region_reason, target_switchboard, priority, position, counsellor_user_id, inputs,
        duration_ms)
    VALUES (p_switchboard, p_linkedid, v_call_id, p_attempt, a_action, COALESCE(a_target, a_queue), a_reason,
        v_region, v_region_reason, d_target_board, a_priority, a_position, d_counsellor, v_inputs,
        round((p_elapsed_ms + 1000 * extract(epoch FROM clock_timestamp() - statement_timestamp()))::numeric, 2));

    RETURN jsonb_build_object(
        'action', a_action, 'reason', a_reason, 'target', a_target, 'queue', a_queue,
        'timeout', a_timeout, 'seconds', a_seconds, 'position', a_position, 'priority', a_priority,
        'call_id', v_call_id, 'region', v_region, 'region_reason', v_region_reason,
        'target_switchboard', d_target_board, 'counsellor_user_id', d_counsellor, 'inputs', v_inputs);
END $$
"""


def upgrade() -> None:
    op.execute(ROUTE)


def downgrade() -> None:
    # back to 0008's function, read from that migration so that it is not written twice
    spec = importlib.util.spec_from_file_location(
        "route_function_0008", Path(__file__).with_name("2026-11-28_1600_route_function.py")
    )
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute(previous.ROUTE.replace("CREATE FUNCTION hl_route(", "CREATE OR REPLACE FUNCTION hl_route(", 1))
