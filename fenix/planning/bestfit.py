"""Best fit without a scan of every host: free room kept sorted by RAM within each tier of hosts.

Both flows pick a target the same way: the lowest tier, then the least free RAM after the move, then the host's
name; among hosts with room in vCPU and RAM that the caller allows. A scan of every host per instance made a plan
O(hosts x instances), which at a few hundred hosts held a workflow task past Temporal's 2 s deadlock limit. Here the
first host of a tier with enough RAM is found by bisection and the walk stops at the first one that fits, so the
choice is the same minimum the scan found.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable


class BestFit:
    """Free (vCPU, RAM) of the candidate hosts, each in its tier, for one plan (its room only shrinks).

    Args:
        free: Host -> (free vCPUs, free RAM in MB) of every candidate host.
        tier: Host -> its tier (lower first); hosts without a tier are no candidates.
        min_vcpus: No instance of the plan needs fewer vCPUs: a host with less room is dropped for good.
    """

    def __init__(self, free: Iterable[tuple[str, int, int]], tier: Callable[[str], int | None],
                 min_vcpus: int) -> None:
        self._vcpus: dict[str, int] = {}
        self._ram: dict[str, int] = {}
        self._tier: dict[str, int] = {}
        tiers: dict[int, list[tuple[int, str]]] = {}
        for host, vcpus, ram in free:
            t = tier(host)
            if t is None:
                continue
            self._vcpus[host], self._ram[host], self._tier[host] = vcpus, ram, t
            if vcpus >= min_vcpus:
                tiers.setdefault(t, []).append((ram, host))
        self._sorted = [sorted(tiers[t]) for t in sorted(tiers)]
        self._index = {t: k for k, t in enumerate(sorted(tiers))}
        self.min_vcpus = min_vcpus
        self._shared = False

    def copy(self) -> BestFit:
        """A scratch copy for one trial plan; the lists are copied only when the trial first places something
        (most trials at size fail at their first instance, and copying every host per trial was the cost)."""
        other = BestFit.__new__(BestFit)
        other._vcpus, other._ram, other._tier = self._vcpus, self._ram, self._tier
        other._sorted, other._index, other.min_vcpus = self._sorted, self._index, self.min_vcpus
        other._shared = True
        self._shared = True  # the original's lists are now seen by the copy too: it must not change them in place
        return other

    def _own(self) -> None:
        if self._shared:
            self._vcpus, self._ram = dict(self._vcpus), dict(self._ram)
            self._sorted = [list(s) for s in self._sorted]
            self._shared = False

    def best(self, vcpus: int, ram: int, allowed: Callable[[str], bool]) -> str | None:
        """The lowest tier's host with the least free RAM (then name) that has the room and is allowed."""
        for hosts in self._sorted:
            k = bisect_left(hosts, (ram, ""))
            while k < len(hosts):
                host = hosts[k][1]
                if self._vcpus[host] >= vcpus and allowed(host):
                    return host
                k += 1
        return None

    def take(self, host: str, vcpus: int, ram: int) -> None:
        """`host` receives an instance of this size."""
        self._own()
        hosts = self._sorted[self._index[self._tier[host]]]
        del hosts[bisect_left(hosts, (self._ram[host], host))]
        self._vcpus[host] -= vcpus
        self._ram[host] -= ram
        if self._vcpus[host] >= self.min_vcpus:
            insort(hosts, (self._ram[host], host))
