"""Following a session until it ends, for `fenix session watch` and `fenix session start --watch`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rich.text import Text

from cli.client import Api, ApiError, segment
from cli.output import STATE_STYLE, err, out, state_text
from fenix.models.session import SessionState, SessionStatus


def _progress(st: SessionStatus) -> Text:
    paused = Text(f"  PAUSED by {st.paused_by}" + (f" ({st.pause_reason})" if st.pause_reason else ""),
                  style="bold yellow") if st.paused else Text("")
    return (state_text(st.state) + paused + Text(f"  {st.hosts_maintained}/{st.hosts_total} hosts  ")
            + Text(st.current or ""))


def follow(api: Api, session_id: str, interval: float, timeout: float | None) -> int:
    """Poll until the session ends; 0 for MAINTENANCE_DONE, 1 otherwise. Raises ApiError when it must stop."""
    path = f"/maintenance/{segment(session_id)}"
    deadline = None if timeout is None else time.monotonic() + timeout
    last: tuple[str, int, str] | None = None
    outage = False
    try:
        with out.status(f"watching session {session_id}") as spinner:
            while True:
                try:
                    st = api.call("GET", path, SessionStatus)
                except ApiError as exc:
                    # Before the first answer an error means a wrong URL, token or id: say so at once. Later, a
                    # long session must outlive an API restart, so keep polling through transient failures.
                    if last is None or not exc.transient:
                        raise
                    if not outage:
                        err.print(Text(f"warning: {exc.message}; retrying", style="yellow"))
                        outage = True
                else:
                    outage = False
                    key = (str(st.state) + (" paused" if st.paused else ""), st.hosts_maintained, st.current)
                    if key != last:
                        # A line per change, not just the spinner: logs and CI output keep the story.
                        out.print(Text(datetime.now(UTC).strftime("%H:%M:%S  ")) + _progress(st))
                        spinner.update(_progress(st))
                        last = key
                    if st.state.terminal:
                        break
                if deadline is not None and time.monotonic() > deadline:
                    raise ApiError(f"session {session_id} still {last[0] if last else 'unknown'} after "
                                   f"{timeout:g} s; it goes on (fenix session watch {session_id})")
                time.sleep(interval)
    except KeyboardInterrupt:
        err.print(f"Stopped watching; session {session_id} goes on.", markup=False, highlight=False)
        return 130
    summary = f"session {session_id} {st.state}: {st.hosts_maintained}/{st.hosts_total} hosts maintained"
    if st.reason:
        summary += f" ({st.reason})"
    style = STATE_STYLE.get(st.state, "bold")
    (out if st.state == SessionState.MAINTENANCE_DONE else err).print(Text(summary, style=style))
    return 0 if st.state == SessionState.MAINTENANCE_DONE else 1
