"""The session's bounded reads: the queries the API pages a large session with.

The `detail` query answers the whole state, ~1 KB per instance, and fails past ~2,000 instances (Temporal's 2 MB
limit on a query answer). These answer a bounded page, or the bounded summary. Queries, not Updates: a read must
write nothing to the history, and adding a query handler is replay-safe (a query is not a command).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fenix.models.session import SessionDetail
    from fenix.models.session_pages import (
        HistoryPage,
        HistoryPageQuery,
        HostPage,
        HostPageQuery,
        InstancePage,
        InstancePageQuery,
        page_history,
        page_hosts,
        page_instances,
        summarize,
    )


class SessionReads:
    """Query handlers over the session's detail; the session workflow inherits them."""

    @property
    def _detail(self) -> SessionDetail:
        raise NotImplementedError  # the session workflow's detail

    @workflow.query
    def summary(self) -> SessionDetail:
        """The detail with every list bounded (fenix/models/session_pages.py `summarize`)."""
        return summarize(self._detail)

    @workflow.query
    def hosts_page(self, q: HostPageQuery) -> HostPage:
        return page_hosts(self._detail, q)

    @workflow.query
    def instances_page(self, q: InstancePageQuery) -> InstancePage:
        return page_instances(self._detail, q)

    @workflow.query
    def history_page(self, q: HistoryPageQuery) -> HistoryPage:
        return page_history(self._detail, q)
