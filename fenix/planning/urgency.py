"""Which pending host is most urgent: the one holding members of the group with the longest chain of moves ahead.

That group is the critical path. Also how deep a group's pipeline of warned members may be (`_depth`).
Heuristics, computed once per decide(): a little staleness within one decision is fine.
"""

from __future__ import annotations

import math

from fenix.planning.model import HostStep, Step
from fenix.planning.state import PlanState


class Urgency(PlanState):
    """Ranking of pending hosts by the remaining chains of their groups."""

    def _urgency(self, host: str, now: float) -> tuple[float, float]:
        """(longest, total) remaining chain, in seconds, of the groups on `host` that the draining hosts do not
        already keep busy: admitting a host helps a group only if its pipeline of warned members is not full."""
        longest = total = 0.0
        seen: set[str | None] = set()
        for inst in self.on_host(host):
            if inst.group in seen:
                continue
            seen.add(inst.group)
            if inst.group is None:
                chain = self.est.duration(self.default_for(inst)[0], inst.memory_mb)
            else:
                chain = self._chain(inst.group)
                if self._served(inst.group):
                    chain = 0.0
            longest, total = max(longest, chain), total + chain
        return longest, total

    def _chain(self, group: str) -> float:
        """Seconds of moves and recoveries the group still has ahead, max_impacted_members at a time."""
        if group not in self._chains:
            self._chains[group] = self._chain_now(group)
        return self._chains[group]

    def _chain_now(self, group: str) -> float:
        g = self.groups[group]
        left = [i for i in self.members(group) if i.step in (Step.PENDING, Step.NOTIFIED) and i.origin in self.hosts]
        if not left:
            return 0.0
        move = max(self.est.duration(self.default_for(i)[0], i.memory_mb) for i in left)
        # Within the budget, a round also waits out the lead time (the next member is warned only then).
        lead = max(i.lead_s for i in left) if self.warn_within_budget else 0.0
        return math.ceil(len(left) / g.max_impacted) * (lead + move + g.recovery_s)

    def _served(self, group: str) -> bool:
        """The draining hosts hold enough of the group's members to keep its pipeline full."""
        if group not in self._served_now:
            self._served_now[group] = self._served_count(group) >= self._depth(group)
        return self._served_now[group]

    def _served_count(self, group: str) -> int:
        return sum(1 for i in self.members(group) if i.step in (Step.PENDING, Step.NOTIFIED)
                     and self.hosts.get(i.origin) == HostStep.DRAINING)

    def _rank(self, hosts: list[str], now: float) -> list[str]:
        # A host's key is kept for the rest of the decision: decide() ranks before any instance is warned or moves,
        # and the chains and pipelines it reads are already fixed per decision, so a second ranking (one per host
        # admitted, two for the warnings ahead) would compute the same keys again, over every pending host.
        def key(h: str) -> tuple[int, float, float, int, str]:
            if h not in self._rank_keys:
                longest, total = self._urgency(h, now)
                # Within the budget, a member warned ahead holds its group's slot until it has moved: its host goes
                # first, or the slot is wasted while the lead time has long run out.
                warned = -sum(1 for i in self.on_host(h) if i.step == Step.NOTIFIED) if self.warn_within_budget else 0
                self._rank_keys[h] = (warned, -longest, -total, len(self.on_host(h)), h)
            return self._rank_keys[h]
        return sorted(hosts, key=key)

    def _depth(self, group: str) -> int:
        """How many members may wait warned: enough that their lead time runs while earlier members move.

        One round of the group takes a move plus its recovery time; a member warned `lead_time` before its slot
        needs ceil(lead / round) rounds of members warned ahead of it. Never fewer than max_impacted_members,
        and no earlier than the lead time requires (a VNFM may start preparing as soon as it is warned).
        """
        if group not in self._depths:
            self._depths[group] = self._depth_of(group)
        return self._depths[group]

    def _depth_of(self, group: str) -> int:
        g = self.groups[group]
        members = self.members(group)
        if not members or self.warn_within_budget:
            return g.max_impacted
        lead = max(i.lead_s for i in members)
        move = min(self.est.duration(self.default_for(i)[0], i.memory_mb) for i in members)
        return g.max_impacted * max(1, math.ceil(lead / max(1.0, move + g.recovery_s)))
