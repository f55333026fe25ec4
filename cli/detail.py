"""`fenix session show`'s tables: a session's state, hosts, projects, plug-in runs and history."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from cli.output import out, state_text
from fenix.models.session import SessionDetail


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def render_detail(d: SessionDetail, history: int) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_row("session", d.session_id)
    head.add_row("workflow", d.workflow)
    head.add_row("state", state_text(d.state) + (Text(" (aborted)") if d.aborted else Text("")))
    if d.reason:
        head.add_row("reason", d.reason)
    head.add_row("now", d.current or "-")
    s = d.steering
    if s.paused:
        head.add_row("paused", f"by {s.paused_by} since {_when(s.paused_at)} UTC"
                               f"{': ' + s.pause_reason if s.pause_reason else ''}")
    if s.parked:
        head.add_row("parked on", f"{s.parked.host}: {s.parked.error} (choose: fenix session retry | skip | abort)")
    if s.skipped_hosts:
        head.add_row("skipped hosts", ", ".join(s.skipped_hosts) + " (left disabled)")
    head.add_row("maintenance at", f"{_when(d.maintenance_at)} UTC")
    maintained = d.hosts_maintained if d.hosts_maintained is not None else sum(h.maintained for h in d.hosts)
    head.add_row("hosts maintained", f"{maintained}/{d.hosts_total or len(d.hosts)}")
    if d.truncated:  # a large session's detail is bounded (docs/api.md#session-detail)
        head.add_row("shortened", f"{', '.join(d.truncated)}: the API's /detail/hosts, /detail/instances and "
                                  "/detail/history pages hold all")
    out.print(head)

    hosts = Table(title="hosts")
    for col in ("host", "type", "phase", "maintained", "disabled by session"):
        hosts.add_column(col)
    for h in d.hosts:
        hosts.add_row(h.name, h.type, str(h.phase), _yes_no(h.maintained), _yes_no(h.disabled_by_session))
    out.print(hosts)

    per_project: dict[str, int] = {}
    for i in d.instances:
        per_project[i.project_id] = per_project.get(i.project_id, 0) + 1
    projects = Table(title="projects")
    for col in ("project", "last state", "awaiting reply", "reply by (UTC)", "subscribed", "instances"):
        projects.add_column(col)
    for p in d.projects:
        projects.add_row(p.project_id, p.state or "-", _yes_no(p.awaiting),
                         _when(p.reply_at) if p.awaiting else "-", _yes_no(p.subscribed),
                         str(per_project.get(p.project_id, 0)))
    out.print(projects)

    if d.plugin_runs:
        runs = Table(title="action plug-ins")
        for col in ("plug-in", "type", "host", "state", "seconds", "output"):
            runs.add_column(col)
        for run in d.plugin_runs:
            runs.add_row(run.plugin, str(run.type), run.host or "-", run.state, f"{run.duration_s:.1f}", run.output)
        out.print(runs)

    if history > 0 and d.history:
        hist = Table(title=f"last {min(history, len(d.history))} of {len(d.history) + d.history_dropped} "
                           "history entries")
        for col in ("at (UTC)", "kind", "state", "project", "host", "detail"):
            hist.add_column(col)
        for e in d.history[-history:]:
            hist.add_row(_when(e.at), e.kind, e.state or "", e.project_id or "", e.host or "", e.detail)
        out.print(hist)
