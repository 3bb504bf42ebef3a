"""Which key started each task (``A2aTask``), in the database so that every worker and
instance agrees: a task is bound when an answer first carries it, and a call naming a
task (get, cancel, subscribe, a push config, a message continuing it) or listing tasks
sees only the tasks of its own key; any other is a task that does not exist (the 404 an
unknown id gets: no key learns that another's task exists). A task is bound in the
caller's session (the context its message was in), not the agent's: an agent that
answers in a context of its own (it ignored the one it was sent, or gave none) has that
context mapped back to the caller's (``A2aContext``, bound to the key alike), so that a
later message naming either, or the task, is in the one session and its one budget.
Each function is sync, run off the event loop (``db_work.arun``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from gateway.base.entries import KeyEntry
from gateway.models import A2aContext, A2aTask


def _key_id(key: KeyEntry) -> int | None:
    return None if key.is_master else key.id


def owns(agent_id: int, task_id: str, key: KeyEntry) -> bool:
    """Whether ``key`` started ``task_id`` on the agent (the master key: any task)."""
    if key.is_master:
        return True
    found = (
        A2aTask.objects.filter(agent_id=agent_id, task_id=task_id)
        .values_list("key_id", flat=True)
        .first()
    )
    return found is not None and found == key.id


def context_of(agent_id: int, task_id: str, key: KeyEntry) -> str | None:
    """The context of ``task_id`` when ``key`` started it ('' when unknown: the master
    key, a task bound without one), else None (another key's, or no such task)."""
    found = (
        A2aTask.objects.filter(agent_id=agent_id, task_id=task_id)
        .values_list("key_id", "context_id")
        .first()
    )
    if key.is_master:
        return found[1] if found is not None else ""
    if found is None or found[0] != key.id:
        return None
    return str(found[1] or "")


def session_of(agent_id: int, context_id: str, key: KeyEntry) -> str:
    """The caller's session a message naming ``context_id`` is in: the one the agent's
    context was mapped back to for ``key``, else ``context_id`` itself."""
    if not context_id:
        return ""
    found = (
        A2aContext.objects.filter(agent_id=agent_id, context_id=context_id[:200])
        .values_list("key_id", "session")
        .first()
    )
    if found is None or found[0] != _key_id(key):
        return context_id
    return str(found[1])


def owned(agent_id: int, task_ids: Iterable[str], key: KeyEntry) -> set[str]:
    """Which of ``task_ids`` ``key`` started (the master key: all of them)."""
    ids = list(dict.fromkeys(task_ids))
    if key.is_master or not ids:
        return set(ids)
    rows = A2aTask.objects.filter(agent_id=agent_id, task_id__in=ids, key_id=key.id)
    return set(rows.values_list("task_id", flat=True))


def bind(agent_id: int, found: list[tuple[str, str]], key: KeyEntry, session: str = "") -> set[str]:
    """Bind each (task id, context id) to ``key`` unless it is bound already, in the
    caller's ``session`` (when known, else the agent's context), and an agent's context
    other than ``session`` mapped back to it; returns the ids bound to another key (an
    answer must not show those)."""
    foreign: set[str] = set()
    team_id = key.team.id if key.team is not None else None
    for task_id, agent_context in dict(found).items():
        if not task_id:
            continue
        context_id = session or agent_context
        if session and agent_context and agent_context != session:
            _map_context(agent_id, agent_context, session, key)
        try:
            with transaction.atomic():
                row, _ = A2aTask.objects.get_or_create(
                    agent_id=agent_id,
                    task_id=task_id[:200],
                    defaults={
                        "context_id": context_id[:200],
                        "key_id": _key_id(key),
                        "team_id": team_id,
                    },
                )
        except IntegrityError:  # bound by another request at the same moment
            row = A2aTask.objects.get(agent_id=agent_id, task_id=task_id[:200])
        if not key.is_master and row.key_id != key.id:
            foreign.add(task_id)
    return foreign


def _map_context(agent_id: int, agent_context: str, session: str, key: KeyEntry) -> None:
    """The agent's ``agent_context`` mapped back to the caller's ``session`` for ``key``
    (the first mapping stays: an agent's context is one session)."""
    try:
        with transaction.atomic():
            A2aContext.objects.get_or_create(
                agent_id=agent_id,
                context_id=agent_context[:200],
                defaults={"session": session[:200], "key_id": _key_id(key)},
            )
    except IntegrityError:  # mapped by another request at the same moment
        pass
