"""The data layer on both engines, through the real migrations: every procedure of the contract."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from qai.context import AppContext
from qai.db import Database, utcnow
from qai.errors import BadRequest, InvalidCursor, ProjectNotFound
from qai.messages import service as messages
from qai.messages.models import Fragment, Message, MessageRole, MessageType
from qai.messages.repository import MessageRepository
from qai.messages.service import FragmentDraft
from qai.projects import service as projects
from qai.projects.models import Project
from qai.projects.repository import ProjectRow
from qai.runs import send
from qai.runs import service as runs
from qai.runs.models import Run
from qai.settings import Settings

pytestmark = pytest.mark.usefixtures("settings")


async def make_project(database: Database, value: str = "a kanban board") -> ProjectRow:
    project, _ = await send.create_project(database, value, template="web")
    return project


async def count(database: Database, model: type) -> int:
    async with database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_create_project_makes_first_message_and_sends_event_after_commit(
    database: Database, context: AppContext
) -> None:
    project = await make_project(database, "a kanban board with drag and drop")
    assert project.template == "web"
    first, second = project.name.split("-")
    assert first.isalpha()
    assert second.isalpha()
    page = await projects.history(database, project.id, limit=10)
    [message] = page.items
    assert (message.content, message.role, message.type) == (
        "a kanban board with drag and drop",
        MessageRole.USER,
        MessageType.RESULT,
    )
    assert message.fragment is None
    [event] = context.events.take_undelivered()
    assert (event.name, event.project_id, event.message_id, event.value) == (
        "code-agent/run",
        project.id,
        message.id,
        "a kanban board with drag and drop",
    )


async def test_a_refused_create_leaves_nothing_and_sends_no_event(
    database: Database, context: AppContext
) -> None:
    """The message's foreign key refuses it (no such project): neither it nor its run's
    outbox row is written, and no event is sent."""
    with pytest.raises(ProjectNotFound):
        await send.send_message(database, "00000000-0000-4000-8000-000000000000", "x")
    assert await count(database, Message) == 0
    assert await count(database, Run) == 0
    assert context.events.take_undelivered() == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Prompt is required"),
        ("   ", "Prompt is required"),
        ("x" * 1001, "Prompt must be less than 1000 characters"),
    ],
)
async def test_prompt_rules(value: str, message: str, database: Database) -> None:
    with pytest.raises(BadRequest, match=message):
        await send.create_project(database, value, template="web")
    assert await count(database, Project) == 0


async def test_prompt_of_exactly_1000_characters_is_accepted(database: Database) -> None:
    project = await make_project(database, "x" * 1000)
    assert project.id


async def test_get_unknown_project_is_not_found(database: Database) -> None:
    with pytest.raises(ProjectNotFound, match="Project not found"):
        await projects.get_project(database, "nope")


async def test_list_is_newest_first_and_pages_are_stable_under_equal_timestamps(
    database: Database,
) -> None:
    same = utcnow()
    async with database.session() as session:
        for index in range(7):
            session.add(Project(name=f"p{index}", created_at=same, updated_at=same))
        session.add(Project(name="newest", created_at=same + timedelta(seconds=1), updated_at=same))
    seen: list[str] = []
    cursor = None
    while True:
        page = await projects.list_projects(database, limit=3, cursor=cursor)
        seen.extend(p.id for p in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    everything = await projects.list_projects(database, limit=100)
    assert len(seen) == len(set(seen)) == 8
    assert [p.id for p in everything.items] == seen
    assert everything.items[0].name == "newest"
    assert everything.next_cursor is None


async def test_bad_cursor_is_a_clear_bad_request(database: Database) -> None:
    with pytest.raises(InvalidCursor, match="Invalid cursor"):
        await projects.list_projects(database, limit=3, cursor="%%%not-a-cursor")


async def test_history_is_oldest_first_with_fragments_in_fixed_queries(database: Database) -> None:
    project = await make_project(database)

    async def statements_for_history() -> tuple[int, int]:
        stats = database.stats
        before = stats.statements
        page = await projects.history(database, project.id, limit=500)
        return stats.statements - before, len(page.items)

    async def add_turns(n: int) -> None:
        for index in range(n):
            async with database.session() as session:
                await messages.create_user_message(session, project.id, f"change {index}")
            async with database.session() as session:
                await messages.save_assistant_result(
                    session,
                    project.id,
                    f"done {index}",
                    FragmentDraft(
                        title=f"Step {index}",
                        sandbox_url="http://x.preview.localhost:8000",
                        files={"index.html": f"<h1>{index}</h1>"},
                        summary=f"summary {index}",
                    ),
                )

    await add_turns(2)
    small_statements, small_count = await statements_for_history()
    await add_turns(20)
    large_statements, large_count = await statements_for_history()
    assert (small_count, large_count) == (5, 45)
    assert small_statements == large_statements == 1

    page = await projects.history(database, project.id, limit=500)
    roles = [m.role for m in page.items]
    assert roles[0] == MessageRole.USER
    assert roles[1:5] == [
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.USER,
        MessageRole.ASSISTANT,
    ]
    assert [m.created_at for m in page.items] == sorted(m.created_at for m in page.items)
    last = page.items[-1]
    assert last.fragment is not None
    assert last.fragment.files() == {"index.html": "<h1>19</h1>"}
    assert last.fragment.summary == "summary 19"


async def test_history_pages_forward_and_backward(database: Database) -> None:
    project = await make_project(database)
    for index in range(9):
        async with database.session() as session:
            await messages.create_user_message(session, project.id, f"m{index}")
    everything = [
        m.content for m in (await projects.history(database, project.id, limit=100)).items
    ]
    forward: list[str] = []
    cursor = None
    while True:
        page = await projects.history(database, project.id, limit=4, cursor=cursor)
        forward.extend(m.content for m in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    latest = await projects.history(database, project.id, limit=4, latest=True)
    backward = [m.content for m in latest.items]
    before = latest.prev_cursor
    while before is not None:
        page = await projects.history(database, project.id, limit=4, before=before)
        backward = [m.content for m in page.items] + backward
        before = page.prev_cursor
    assert forward == everything == backward
    # Messages made within one millisecond share a timestamp and are ordered by id: compare
    # as sets, the order is pinned by the equality above.
    assert set(everything) == {"a kanban board"} | {f"m{i}" for i in range(9)}


async def test_history_of_unknown_project_is_not_found(database: Database) -> None:
    with pytest.raises(ProjectNotFound):
        await projects.history(database, "missing", limit=10)


async def test_message_for_unknown_project_is_not_found_and_nothing_is_kept(
    database: Database, context: AppContext
) -> None:
    with pytest.raises(ProjectNotFound, match="Project not found"):
        async with database.session() as session:
            await messages.create_user_message(session, "missing", "hello")
    assert await count(database, Message) == 0
    assert context.events.take_undelivered() == []


async def test_create_message_sends_event(database: Database, context: AppContext) -> None:
    project = await make_project(database)
    context.events.take_undelivered()
    async with database.session() as session:
        message = await messages.create_user_message(session, project.id, "make it blue")
    [event] = context.events.take_undelivered()
    assert (event.project_id, event.message_id, event.value) == (
        project.id,
        message.id,
        "make it blue",
    )


async def test_one_fragment_per_message(database: Database) -> None:
    project = await make_project(database)
    async with database.session() as session:
        answer = await messages.save_assistant_result(
            session,
            project.id,
            "done",
            FragmentDraft(title="T", sandbox_url="u", files={"a": "b"}),
        )
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(Fragment(message_id=answer.id, sandbox_url="u", title="again", files={}))


async def test_error_answer(database: Database) -> None:
    project = await make_project(database)
    async with database.session() as session:
        await messages.save_assistant_error(session, project.id, "The model is not configured.")
    page = await projects.history(database, project.id, limit=10)
    assert [(m.role, m.type) for m in page.items] == [
        (MessageRole.USER, MessageType.RESULT),
        (MessageRole.ASSISTANT, MessageType.ERROR),
    ]


async def test_delete_cascades_in_the_database_itself(database: Database) -> None:
    project = await make_project(database)
    other = await make_project(database, "keep me")
    async with database.session() as session:
        await messages.save_assistant_result(
            session, project.id, "done", FragmentDraft(title="T", sandbox_url="u", files={})
        )
    # Straight SQL, so the cascade is the database's, not the ORM's.
    async with database.session() as session:
        await session.execute(text('DELETE FROM "Project" WHERE id = :id'), {"id": project.id})
    assert await count(database, Fragment) == 0
    assert await count(database, Message) == 1
    async with database.session() as session:
        await projects.delete_project(session, other.id)
    assert (await count(database, Project), await count(database, Message)) == (0, 0)
    with pytest.raises(ProjectNotFound):
        async with database.session() as session:
            await projects.delete_project(session, other.id)


async def test_message_delete_cascades_to_its_fragment(database: Database) -> None:
    project = await make_project(database)
    async with database.session() as session:
        answer = await messages.save_assistant_result(
            session, project.id, "done", FragmentDraft(title="T", sandbox_url="u", files={})
        )
    async with database.session() as session:
        await session.execute(text('DELETE FROM "Message" WHERE id = :id'), {"id": answer.id})
    assert await count(database, Fragment) == 0


async def test_rename_changes_updated_at_and_checks_the_name(database: Database) -> None:
    project = await make_project(database)
    async with database.session() as session:
        renamed = await projects.rename_project(session, project.id, "  My board  ")
    assert renamed.name == "My board"
    assert renamed.updated_at > project.updated_at or renamed.updated_at >= project.created_at
    assert renamed.created_at == project.created_at
    again = await projects.get_project(database, project.id)
    assert again.updated_at == renamed.updated_at
    assert again.updated_at >= project.updated_at
    with pytest.raises(BadRequest, match="Name is required"):
        async with database.session() as session:
            await projects.rename_project(session, project.id, "  ")
    with pytest.raises(ProjectNotFound):
        async with database.session() as session:
            await projects.rename_project(session, "missing", "x")


async def test_updated_at_is_set_on_insert_and_moves_on_update(
    settings: Settings, database: Database
) -> None:
    project = await make_project(database)
    async with database.session() as session:
        row = await session.get(Project, project.id)
        assert row is not None
        assert row.updated_at is not None
        old = row.updated_at
        row.created_at = row.created_at - timedelta(days=1)
        row.updated_at = old - timedelta(days=1)
    async with database.session() as session:
        row = await session.get(Project, project.id)
        assert row is not None
        stale = row.updated_at
        row.name = "changed"
    async with database.read() as session:
        row = await session.get(Project, project.id)
        assert row is not None
        assert row.updated_at > stale


async def test_latest_fragment_and_recent_messages(database: Database) -> None:
    project = await make_project(database)
    for index in range(3):
        async with database.session() as session:
            await messages.save_assistant_result(
                session,
                project.id,
                f"r{index}",
                FragmentDraft(title=f"T{index}", sandbox_url="u", files={"n": str(index)}),
            )
    latest = await messages.latest_fragment(database, project.id)
    async with database.read() as session:
        recent = await MessageRepository(session).recent_for_memory(project.id, limit=2)
    assert latest is not None
    assert latest.title == "T2"
    assert latest.files() == {"n": "2"}
    assert [m.content for m in recent] == ["r1", "r2"]


async def test_slow_queries_are_logged_and_counted(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from qai.db.engine import create_database

    database = create_database(settings.model_copy(update={"db_slow_query_ms": 0}))
    try:
        with caplog.at_level("WARNING", logger="qai.db"):
            async with database.sessionmaker() as session:
                await session.execute(text('SELECT count(*) FROM "Project"'))
        assert database.stats.slow_queries >= 1
        assert any(
            "slow query" in r.getMessage() and 'FROM "Project"' in r.getMessage()
            for r in caplog.records
        )
        pool = database.pool_status()
        assert set(pool) == {"size", "checked_out", "overflow"}
        assert pool["size"] == settings.db_pool_size
    finally:
        await database.dispose()


def test_timestamps_keep_the_order_of_writes_within_a_millisecond() -> None:
    stamps = [utcnow() for _ in range(2000)]
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))
    assert all(stamp.microsecond % 1000 == 0 for stamp in stamps)


async def test_a_user_messages_queue_position_counts_its_projects_user_messages(
    database: Database,
) -> None:
    project = await make_project(database)  # its first USER message
    other = await make_project(database)
    async with database.session() as session:
        await messages.save_assistant_error(session, project.id, "Try again.")
        second = await messages.create_user_message(session, project.id, "make it blue")
        third = await messages.create_user_message(session, project.id, "make it red")
        elsewhere = await messages.create_user_message(session, other.id, "make it green")
    assert [await runs.position_of(database, m.id) for m in (second, third, elsewhere)] == [2, 3, 2]
    assert await runs.position_of(database, "no-such-message") == 1
