"""Action plug-ins: the contract, and the registry built on the ``fenix.actions`` entry-point group.

A plug-in is a class that can be instantiated with no arguments and has a ``run`` method (see
:class:`ActionPlugin`). It is registered by a package's entry points, e.g. in ``pyproject.toml``::

    [project.entry-points."fenix.actions"]
    os_upgrade = "mycompany.fenix_plugins:OsUpgrade"

A plug-in class may declare a nested pydantic model named ``Metadata`` describing the ``metadata``
it accepts; :func:`validate_metadata` checks a session's action metadata against it, so the API can
answer 422 before a session starts instead of the plug-in failing hours later.

Plug-ins know nothing about Temporal: they receive a plain ``heartbeat`` callable, which keeps them
testable on their own and lets the activity decide how progress is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, TypeVar, cast

from pydantic import BaseModel, ValidationError

from fenix.models.plugin import PluginContext, PluginOutcome

__all__ = [
    "DONE",
    "ENTRY_POINT_GROUP",
    "FAILED",
    "ActionPlugin",
    "PluginNotFound",
    "available",
    "load",
    "parse_metadata",
    "plugin_class",
    "validate_metadata",
]

ENTRY_POINT_GROUP = "fenix.actions"

# Outcome states (PluginOutcome.state).
DONE = "DONE"
FAILED = "FAILED"

M = TypeVar("M", bound=BaseModel)


class ActionPlugin(Protocol):
    """What an action plug-in class provides (instantiated with no arguments, one instance per run)."""

    def run(self, ctx: PluginContext, heartbeat: Callable[[str], None]) -> PluginOutcome:
        """Do the action.

        Args:
            ctx: The session, host and metadata of this run.
            heartbeat: Call it with a short progress message at least every few seconds while
                working; in a worker it may raise when the run is cancelled (let that propagate
                after cleaning up).

        Returns:
            The outcome: state ``DONE`` or ``FAILED`` plus the output worth showing to the admin.
        """
        ...


class PluginNotFound(KeyError):
    """No plug-in of that name is registered in the ``fenix.actions`` entry-point group."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        names = ", ".join(available) if available else "none"
        self.message = f"unknown action plug-in {name!r}; available: {names}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError would print the repr of its argument (quoted); show the plain message instead.
        return self.message


def _entry_points() -> dict[str, EntryPoint]:
    # Read on every call, not cached: a plug-in package installed while the API runs should show up.
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of the registered action plug-ins.

    Returns:
        Sorted plug-in names from the ``fenix.actions`` entry-point group.
    """
    return sorted(_entry_points())


def plugin_class(name: str) -> type[ActionPlugin]:
    """Import the class registered under ``name``.

    Args:
        name: The plug-in name (the entry point's name).

    Returns:
        The plug-in class.

    Raises:
        PluginNotFound: If no plug-in of that name is registered.
    """
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        raise PluginNotFound(name, sorted(eps))
    return cast("type[ActionPlugin]", ep.load())


def load(name: str) -> ActionPlugin:
    """Instantiate the plug-in registered under ``name``.

    Args:
        name: The plug-in name.

    Returns:
        A fresh plug-in instance (one per run, so plug-ins may keep state on ``self``).

    Raises:
        PluginNotFound: If no plug-in of that name is registered.
    """
    return plugin_class(name)()


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "metadata"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_metadata(model: type[M], metadata: Mapping[str, Any], *, plugin: str = "") -> M:
    """Validate plug-in metadata against its model, with a readable error.

    Args:
        model: The plug-in's ``Metadata`` model.
        metadata: The action's metadata from the session.
        plugin: The plug-in name, used in the error message.

    Returns:
        The validated metadata.

    Raises:
        ValueError: With one ``field: problem`` entry per error, e.g.
            ``invalid metadata for plug-in 'dummy': seconds: Input should be greater than or equal to 0``.
    """
    try:
        return model.model_validate(dict(metadata))
    except ValidationError as exc:
        who = f" for plug-in {plugin!r}" if plugin else ""
        # `from None`: the pydantic traceback adds nothing to the one-line message the API returns.
        raise ValueError(f"invalid metadata{who}: {_format_errors(exc)}") from None


def validate_metadata(name: str, metadata: Mapping[str, Any]) -> None:
    """Check an action's metadata before a session starts.

    A plug-in without a ``Metadata`` model accepts any metadata.

    Args:
        name: The plug-in name.
        metadata: The action's metadata.

    Raises:
        PluginNotFound: If no plug-in of that name is registered.
        ValueError: If the metadata does not fit the plug-in's ``Metadata`` model.
    """
    model = getattr(plugin_class(name), "Metadata", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        parse_metadata(model, metadata, plugin=name)
