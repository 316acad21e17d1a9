"""Assistant use cases: each runs in the caller's transaction and returns the wire shape."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.assistants import store
from openrevox.db.types import new_id, utcnow
from openrevox.errors import NotFound
from openrevox.schemas.assistants import (
    AssistantCreateIn,
    AssistantUpdateIn,
    FaqItemIn,
    assistant_values,
    render_assistant,
)


def _faq_rows(items: list[FaqItemIn]) -> list[dict]:
    return [
        {"id": new_id(), "position": i, "question": f.question, "answer": f.answer, "source": "human",
         "needs_human_answer": False}
        for i, f in enumerate(items)
    ]  # fmt: skip


async def fetch(conn: AsyncConnection, org_id: str, assistant_id: str) -> dict:
    """The rendered assistant, or NotFound (also for another organization's id)."""
    row = await store.get_assistant(conn, org_id, assistant_id)
    if row is None:
        raise NotFound(f"No assistant with id '{assistant_id}'", param="id")
    faqs = await store.faq_items_of(conn, [assistant_id])
    return render_assistant(row, faqs[assistant_id])


async def create(conn: AsyncConnection, org_id: str, body: AssistantCreateIn) -> dict:
    now = utcnow()
    assistant_id = new_id()
    values = assistant_values(body, only_given=False)
    await store.insert_assistant(
        conn, {**values, "id": assistant_id, "organization_id": org_id, "created_at": now, "updated_at": now}
    )
    await store.replace_faq_items(conn, assistant_id, _faq_rows(body.faq_items or []))
    return await fetch(conn, org_id, assistant_id)


async def list_all(conn: AsyncConnection, org_id: str) -> list[dict]:
    rows = await store.list_assistants(conn, org_id)
    faqs = await store.faq_items_of(conn, [r["id"] for r in rows])
    return [render_assistant(r, faqs[r["id"]]) for r in rows]


async def update(conn: AsyncConnection, org_id: str, assistant_id: str, body: AssistantUpdateIn) -> dict:
    await fetch(conn, org_id, assistant_id)
    values = assistant_values(body, only_given=True)
    await store.update_assistant(conn, assistant_id, {**values, "updated_at": utcnow()})
    if "faq_items" in body.model_fields_set:
        await store.replace_faq_items(conn, assistant_id, _faq_rows(body.faq_items or []))
    return await fetch(conn, org_id, assistant_id)


async def delete(conn: AsyncConnection, org_id: str, assistant_id: str) -> dict:
    """Orders already placed keep their snapshot of the assistant and go on. Returns what was deleted."""
    assistant = await fetch(conn, org_id, assistant_id)
    await store.delete_assistant(conn, assistant_id)
    return assistant


async def clone(conn: AsyncConnection, org_id: str, assistant_id: str) -> dict:
    source = await store.get_assistant(conn, org_id, assistant_id)
    if source is None:
        raise NotFound(f"No assistant with id '{assistant_id}'", param="id")
    now, copy_id = utcnow(), new_id()
    await store.insert_assistant(
        conn, {**source, "id": copy_id, "name": f"{source['name']} (copy)", "created_at": now, "updated_at": now}
    )
    faqs = (await store.faq_items_of(conn, [assistant_id]))[assistant_id]
    await store.replace_faq_items(
        conn, copy_id, [{**f, "id": new_id(), "assistant_id": copy_id} for f in faqs]
    )
    return await fetch(conn, org_id, copy_id)
