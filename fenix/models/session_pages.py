"""Paged, filtered reads of a session, and the bounded summary that stands for the whole detail at size.

A whole `SessionDetail` is ~1 KB per instance: past ~2,000 instances it no longer fits in one query answer or
workflow result (Temporal's 2 MB payload limit). The session answers pages instead (workflows/session_reads.py), and
its result and the API's detail view are a `summary`: every list bounded, with its total and the names of the lists
that were cut. The same functions page a live session (in a query) and an ended one (its result), so both read alike.

Cursors are keys, not offsets: the session rebuilds its instance list when it reads the cloud again, so an offset
could skip or repeat an instance between two pages; "after this name/id" cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, Field

from fenix.models.session import HistoryEntry, HostPhase, HostRecord, InstanceRecord, SessionDetail

# The session keeps the last LOG_MAX entries of its history (a ring; `history_dropped` counts the others): the log
# grows with every notice, reply and move, and it lives in the workflow's state, its query answers and its result.
LOG_MAX = 1000
# The summary's bounds: with them a summary stays well under 1 MB whatever the size of the session.
SUMMARY_HOSTS = 1000
SUMMARY_INSTANCES = 500
SUMMARY_PROJECTS = 500
SUMMARY_PLUGIN_RUNS = 200
SUMMARY_HISTORY = 500
# The largest page the session answers (the API refuses more with 422).
PAGE_MAX = 1000
PAGE_DEFAULT = 100

T = TypeVar("T")


class InstanceState(StrEnum):
    """Where an instance stands in the session (derived from its record, for filtering)."""

    WAITING = "WAITING"  # no action chosen yet
    PLANNED = "PLANNED"  # an action chosen (by reply or default), not done
    DONE = "DONE"
    FAILED = "FAILED"  # the action failed (the session may still try again)


def instance_state(record: InstanceRecord) -> InstanceState:
    if record.action_done:
        return InstanceState.DONE
    if record.error is not None:
        return InstanceState.FAILED
    if record.action is not None:
        return InstanceState.PLANNED
    return InstanceState.WAITING


class HostPageQuery(BaseModel):
    phase: HostPhase | None = None
    cursor: str | None = None  # the last host name of the previous page
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX)


class HostPage(BaseModel):
    hosts: list[HostRecord]
    total: int  # hosts that match the filter, in all pages
    next: str | None = None  # the cursor of the next page; None on the last one


class InstancePageQuery(BaseModel):
    project_id: str | None = None
    host: str | None = None  # where the instance is now
    state: InstanceState | None = None
    cursor: str | None = None  # the last instance id of the previous page
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX)


class InstancePage(BaseModel):
    instances: list[InstanceRecord]
    total: int
    next: str | None = None


class HistoryPageQuery(BaseModel):
    cursor: int = Field(0, ge=0)  # the number of the first entry wanted (entries count from 0 at the session's start)
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX)


class HistoryPage(BaseModel):
    entries: list[HistoryEntry]
    first: int  # the number of entries[0] (or of the next entry, when there is none)
    next: int  # the cursor for what comes after; the same cursor again when there is nothing new yet
    dropped: int = 0  # entries wanted that the session no longer keeps (older than its last LOG_MAX)


def _page(items: list[T], key_of: Callable[[T], str], cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    ordered = sorted(items, key=key_of)
    start = 0 if cursor is None else next((i for i, item in enumerate(ordered) if key_of(item) > cursor),
                                          len(ordered))
    page = ordered[start:start + limit]
    more = start + limit < len(ordered)
    return page, key_of(page[-1]) if page and more else None


def page_hosts(detail: SessionDetail, q: HostPageQuery) -> HostPage:
    matching = [h for h in detail.hosts if q.phase is None or h.phase == q.phase]
    page, nxt = _page(matching, lambda h: h.name, q.cursor, q.limit)
    return HostPage(hosts=page, total=len(matching), next=nxt)


def page_instances(detail: SessionDetail, q: InstancePageQuery) -> InstancePage:
    matching = [i for i in detail.instances
                if (q.project_id is None or i.project_id == q.project_id)
                and (q.host is None or i.host == q.host)
                and (q.state is None or instance_state(i) == q.state)]
    page, nxt = _page(matching, lambda i: i.instance_id, q.cursor, q.limit)
    return InstancePage(instances=page, total=len(matching), next=nxt)


def page_history(detail: SessionDetail, q: HistoryPageQuery) -> HistoryPage:
    first_kept = detail.history_dropped
    start = max(q.cursor, first_kept)
    entries = detail.history[start - first_kept:start - first_kept + q.limit]
    return HistoryPage(entries=entries, first=start, next=start + len(entries),
                       dropped=max(0, first_kept - q.cursor))


def summarize(detail: SessionDetail) -> SessionDetail:
    """The detail with every list bounded (docs/api.md#session-detail): the first hosts, instances and projects in
    the session's order, the last plug-in runs and history entries; `truncated` names the lists that were cut."""
    cut: list[str] = []

    def head(name: str, items: list[T], bound: int) -> list[T]:
        if len(items) <= bound:
            return list(items)
        cut.append(name)
        return items[:bound]

    def tail(name: str, items: list[T], bound: int) -> list[T]:
        if len(items) <= bound:
            return list(items)
        cut.append(name)
        return items[-bound:]

    hosts = head("hosts", detail.hosts, SUMMARY_HOSTS)
    instances = head("instances", detail.instances, SUMMARY_INSTANCES)
    projects = head("projects", detail.projects, SUMMARY_PROJECTS)
    plugin_runs = tail("plugin_runs", detail.plugin_runs, SUMMARY_PLUGIN_RUNS)
    history = tail("history", detail.history, SUMMARY_HISTORY)
    return detail.model_copy(update={
        "hosts": hosts, "instances": instances, "projects": projects, "plugin_runs": plugin_runs,
        "history": history, "history_dropped": detail.history_dropped + len(detail.history) - len(history),
        # A summary summarized again (an ended session's result, read by the API) keeps its totals.
        "hosts_total": detail.hosts_total if detail.hosts_total is not None else len(detail.hosts),
        "hosts_maintained": detail.hosts_maintained if detail.hosts_maintained is not None else
        sum(h.maintained for h in detail.hosts),
        "instances_total": detail.instances_total if detail.instances_total is not None else len(detail.instances),
        "projects_total": detail.projects_total if detail.projects_total is not None else len(detail.projects),
        "truncated": sorted(set(detail.truncated) | set(cut))})
