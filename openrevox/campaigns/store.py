"""SQL for campaigns and their rows: one function per statement."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.campaigns.tables import campaign_rows, campaigns
from openrevox.db.types import UTCDateTime
from openrevox.orders.tables import call_attempts, call_orders, transcript_entries

TERMINAL = ("completed", "cancelled", "errored")
INSERT_CHUNK = 5_000


def concurrency_key(campaign_id: str) -> str:
    return f"campaign:{campaign_id}"


async def insert_campaign(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(sa.insert(campaigns).values(**values))


ROW_COLUMNS = ("id", "campaign_id", "row_index", "phone_number", "input_data", "first_due_at", "first_status")


async def insert_rows(conn: AsyncConnection, rows: list[tuple]) -> None:
    """The driver's executemany in chunks, values in ROW_COLUMNS order: `input_data` already JSON
    text, `first_due_at` naive UTC (as UTCDateTime stores it). Skipping SQLAlchemy's per-row type
    processing saves a fifth of the time; on PostgreSQL, COPY saves more."""
    if conn.dialect.name == "postgresql":
        await _copy_rows(conn, rows)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {campaign_rows.name} ({', '.join(ROW_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(ROW_COLUMNS))})"
    )
    for start in range(0, len(rows), INSERT_CHUNK):
        await conn.exec_driver_sql(statement, rows[start : start + INSERT_CHUNK])


async def _copy_rows(conn: AsyncConnection, rows: list[tuple]) -> None:
    """COPY … FROM STDIN on this transaction's own connection (psycopg 3)."""
    raw = await conn.get_raw_connection()
    async with raw.driver_connection.cursor() as cursor:
        async with cursor.copy(f"COPY {campaign_rows.name} ({', '.join(ROW_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)


async def materialize_orders(conn: AsyncConnection, campaign_id: str, now: datetime) -> int:
    """One INSERT … SELECT makes every row of the campaign its call order, inside the database:
    the assistant snapshot and configs are copied from the campaign row, never re-sent per order."""
    c, r = campaigns.c, campaign_rows.c
    now_literal = sa.literal(now, UTCDateTime)
    select = (
        sa.select(
            r.id,
            c.organization_id,
            c.assistant_id,
            c.assistant,
            r.phone_number,
            c.dial_from_number,
            sa.literal("outbound"),
            r.first_status,
            sa.func.coalesce(c.scheduled_at, now_literal),
            r.input_data,
            c.call_retry_config,
            c.first_sentence_delay_ms,
            c.llm_model,
            sa.literal("campaign:") + c.id,
            c.max_concurrent_calls,
            sa.false(),
            c.id,
            sa.literal(0),
            r.first_due_at,
            now_literal,
            now_literal,
        )
        .select_from(campaign_rows.join(campaigns, c.id == r.campaign_id))
        .where(r.campaign_id == campaign_id)
    )
    columns = [
        "id", "organization_id", "assistant_id", "assistant", "to_phone_number", "from_phone_number",
        "direction", "status", "scheduled_at", "prompt_variables", "call_retry_config",
        "first_sentence_delay_ms", "llm_model", "concurrency_key", "concurrency_max", "force_now",
        "campaign_id", "calls_count", "next_attempt_at", "created_at", "updated_at",
    ]  # fmt: skip
    result = await conn.execute(sa.insert(call_orders).from_select(columns, select))
    return result.rowcount


async def get_campaign(conn: AsyncConnection, org_id: str, campaign_id: str, *, lock: bool = False) -> dict | None:
    """The campaign if it belongs to `org_id`; with `lock`, locked until the transaction ends (PostgreSQL)."""
    if "\x00" in campaign_id:
        return None
    query = sa.select(campaigns).where(campaigns.c.id == campaign_id, campaigns.c.organization_id == org_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return row._asdict() if row else None


async def list_campaigns(conn: AsyncConnection, org_id: str) -> list[dict]:
    """Every campaign of the organization, most recent first."""
    rows = await conn.execute(
        sa.select(campaigns)
        .where(campaigns.c.organization_id == org_id)
        .order_by(campaigns.c.created_at.desc(), campaigns.c.id)
    )
    return [r._asdict() for r in rows]


async def update_campaign(conn: AsyncConnection, campaign_id: str, values: dict) -> None:
    await conn.execute(sa.update(campaigns).where(campaigns.c.id == campaign_id).values(**values))


async def delete_campaign(conn: AsyncConnection, campaign_id: str) -> None:
    """Its rows go with it (cascade); its orders stay, as call records."""
    await conn.execute(sa.delete(campaign_rows).where(campaign_rows.c.campaign_id == campaign_id))
    await conn.execute(sa.delete(campaigns).where(campaigns.c.id == campaign_id))


async def status_counts(conn: AsyncConnection, campaign_ids: list[str]) -> dict[str, list[tuple[str, bool, int]]]:
    """Per campaign: (order status, dialed at least once, how many orders)."""
    counts: dict[str, list[tuple[str, bool, int]]] = {i: [] for i in campaign_ids}
    if not campaign_ids:
        return counts
    o = call_orders.c
    dialed = o.calls_count > 0
    rows = await conn.execute(
        sa.select(o.campaign_id, o.status, dialed, sa.func.count())
        .where(o.campaign_id.in_(campaign_ids))
        .group_by(o.campaign_id, o.status, dialed)
    )
    for campaign_id, status, was_dialed, count in rows:
        counts[campaign_id].append((status, bool(was_dialed), count))
    return counts


def _latest_result() -> sa.ScalarSelect:
    a = call_attempts.c
    return (
        sa.select(a.result)
        .where(a.order_id == call_orders.c.id)
        .order_by(a.created_at.desc(), a.id)
        .limit(1)
        .scalar_subquery()
    )


def _row_conditions(campaign_id: str, statuses: list[str], query: str | None, result: str | None) -> list:
    conditions: list = [campaign_rows.c.campaign_id == campaign_id]
    if statuses:
        conditions.append(call_orders.c.status.in_(statuses))
    if query:
        conditions.append(
            sa.or_(
                campaign_rows.c.phone_number.contains(query, autoescape=True),
                sa.cast(campaign_rows.c.input_data, sa.Text).contains(query, autoescape=True),
            )
        )
    if result == "none":
        conditions.append(_latest_result().is_(None))
    elif result and result != "all":
        conditions.append(_latest_result() == result)
    return conditions


async def rows_page(
    conn: AsyncConnection,
    campaign_id: str,
    *,
    statuses: list[str],
    query: str | None,
    result: str | None,
    offset: int,
    limit: int | None,
) -> tuple[list[dict], int]:
    """Rows in input order joined to their orders (each dict is the order plus `row_index` and
    `input_data`), and how many match in all. Unfiltered, a page is a range of `row_index` — dense
    from 0, as rows are created and deleted only with their campaign — found in the
    (campaign_id, row_index) index however deep it is, and the total is the last index + 1;
    filtered, it is an OFFSET into the matches."""
    r = campaign_rows.c
    conditions = _row_conditions(campaign_id, statuses, query, result)
    joined = campaign_rows.join(call_orders, call_orders.c.id == r.id)
    select = sa.select(call_orders, r.row_index, r.input_data).select_from(joined).order_by(r.row_index)
    if len(conditions) == 1:  # the campaign only: no filter
        total = await conn.scalar(
            sa.select(sa.func.coalesce(sa.func.max(r.row_index) + 1, 0)).where(r.campaign_id == campaign_id)
        )
        conditions.append(r.row_index >= offset)
    else:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(joined).where(*conditions))
        select = select.offset(offset)
    select = select.where(*conditions)
    if limit is not None:
        select = select.limit(limit)
    return [row._asdict() for row in await conn.execute(select)], total


async def latest_attempts(conn: AsyncConnection, campaign_id: str) -> dict[str, dict]:
    """Each order's most recent attempt (result, dial error, ended_at), by order id."""
    a = call_attempts.c
    rows = await conn.execute(
        sa.select(a.order_id, a.result, a.dial_error, a.status, a.ended_at, a.created_at, a.id)
        .join(call_orders, call_orders.c.id == a.order_id)
        .where(call_orders.c.campaign_id == campaign_id)
        .order_by(a.order_id, a.created_at, a.id)
    )
    latest: dict[str, dict] = {}
    for row in rows:
        latest[row.order_id] = row._asdict()  # ordered oldest first: the last one wins
    return latest


async def cancel_orders(conn: AsyncConnection, campaign_id: str, now: datetime) -> list[dict]:
    """Every non-terminal order of the campaign becomes cancelled (the dispatcher hangs up live
    ones); returns those orders as they are now."""
    o = call_orders.c
    result = await conn.execute(
        sa.update(call_orders)
        .where(o.campaign_id == campaign_id, o.status.not_in(TERMINAL))
        .values(status="cancelled", next_attempt_at=None, updated_at=now)
        .returning(*call_orders.c)
    )
    return [row._asdict() for row in result]


async def pause_orders(conn: AsyncConnection, campaign_id: str, now: datetime) -> int:
    """Every non-terminal order is paused: a live attempt finishes, no new one starts."""
    o = call_orders.c
    result = await conn.execute(
        sa.update(call_orders)
        .where(o.campaign_id == campaign_id, o.status.not_in((*TERMINAL, "paused")))
        .values(status="paused", updated_at=now)
    )
    return result.rowcount


async def paused_orders(conn: AsyncConnection, campaign_id: str) -> list[dict]:
    """The paused orders of the campaign, each with `live`: whether an attempt is still running."""
    o, a = call_orders.c, call_attempts.c
    live = (
        sa.select(a.id).where(a.order_id == o.id, a.status.in_(("queued", "ringing", "ongoing"))).exists()
    )
    rows = await conn.execute(
        sa.select(o.id, o.to_phone_number, o.call_retry_config, o.next_attempt_at, live.label("live")).where(
            o.campaign_id == campaign_id, o.status == "paused"
        )
    )
    return [r._asdict() for r in rows]


async def set_orders(conn: AsyncConnection, values: Iterable[dict]) -> None:
    """Executemany: each dict has `order_id` plus the columns to set."""
    values = list(values)
    if not values:
        return
    statement = (
        sa.update(call_orders)
        .where(call_orders.c.id == sa.bindparam("order_id"))
        .values(
            status=sa.bindparam("new_status"),
            next_attempt_at=sa.bindparam("due_at"),
            updated_at=sa.bindparam("now"),
        )
    )
    for start in range(0, len(values), INSERT_CHUNK):
        await conn.execute(statement, values[start : start + INSERT_CHUNK])


async def update_waiting_orders(conn: AsyncConnection, campaign_id: str, values: dict) -> int:
    """Change orders not yet dialed (PATCH of the retry config, caller id or concurrency)."""
    o = call_orders.c
    result = await conn.execute(
        sa.update(call_orders)
        .where(o.campaign_id == campaign_id, o.status.not_in(TERMINAL), o.calls_count == 0)
        .values(**values)
    )
    return result.rowcount


async def attempts_of_campaign(conn: AsyncConnection, campaign_id: str) -> list[dict]:
    """Every attempt of the campaign's orders with its number, and how many user turns it had."""
    a, o, t = call_attempts.c, call_orders.c, transcript_entries.c
    user_turns = (
        sa.select(sa.func.count()).where(t.attempt_id == a.id, t.role == "user").scalar_subquery()
    )
    rows = await conn.execute(
        sa.select(
            a.id, a.order_id, o.to_phone_number, a.status, a.result, a.dial_error, a.started_at,
            a.answered_at, a.ended_at, a.dial_started_at, a.structured_output, user_turns.label("user_turns"),
        )  # fmt: skip
        .join(call_orders, o.id == a.order_id)
        .where(o.campaign_id == campaign_id)
    )
    return [r._asdict() for r in rows]


async def order_states(conn: AsyncConnection, campaign_id: str) -> list[dict]:
    o = call_orders.c
    rows = await conn.execute(
        sa.select(o.id, o.to_phone_number, o.status, o.calls_count).where(o.campaign_id == campaign_id)
    )
    return [r._asdict() for r in rows]


async def names_of(conn: AsyncConnection, campaign_ids: set[str]) -> dict[str, str]:
    """{campaign id: name}, for the `campaign` of the calls that belong to one."""
    if not campaign_ids:
        return {}
    rows = await conn.execute(sa.select(campaigns.c.id, campaigns.c.name).where(campaigns.c.id.in_(campaign_ids)))
    return {r.id: r.name for r in rows}
