"""The planners decide exactly as the recorded code did, on a few hundred random clouds and two large ones.

They run in workflow code, so any different choice, plan or decision breaks the replay of a running session: an
optimisation must not change a single one. The digests were recorded before the planners were optimised
(`python -m tests.planning.equivalence`); each covers the default flow's host choices, plans and one-off targets
round by round, and every decision of a `vnf` plan preview with the Pacer options of past releases.
"""

from __future__ import annotations

import json

import pytest

from tests.planning.equivalence import FIXTURE, case, names

RECORDED: dict[str, dict[str, str]] = json.loads(FIXTURE.read_text())


def test_the_fixture_covers_every_case() -> None:
    assert sorted(RECORDED) == sorted(names())


@pytest.mark.parametrize("name", [n for n in names() if n.startswith("small-")])
def test_small_clouds_decide_as_recorded(name: str) -> None:
    assert case(name) == RECORDED[name]


@pytest.mark.parametrize("name", [n for n in names() if n.startswith("large-")])
def test_large_clouds_decide_as_recorded(name: str) -> None:
    assert case(name) == RECORDED[name]
