"""The admission look-ahead: when hosts that cannot be emptied yet are likely to start (`Pacer(lookahead=True)`).

An estimate from move durations, lead and recovery times, used only to warn members ahead of time so that their
lead time runs while earlier hosts drain; never a promise the planner acts on.
"""

from __future__ import annotations

import heapq

from fenix.planning.model import HostStep, Inst, Step
from fenix.planning.targets import Targets


class Forecast(Targets):
    """When instances leave the hosts in progress, and when each later host could be admitted."""

    def _fits_after(self, host: str, finished: list[str], ahead: list[str]) -> bool:
        key = (self._version, host, tuple(finished), tuple(ahead))
        if key not in self._fit_cache:
            if len(self._fit_cache) > 4096:
                self._fit_cache.clear()
            self._fit_cache[key] = self._fits_after_now(host, finished, ahead)
        return self._fit_cache[key]

    def _fits_after_now(self, host: str, finished: list[str], ahead: list[str]) -> bool:
        free = {h: list(v) for h, v in self._free.items()}
        saved = {h: self.hosts[h] for h in finished}
        for h in finished:
            for i in self.on_host(h):
                if i.source != h:
                    free[h][0] += i.vcpus
                    free[h][1] += i.memory_mb
        for h in self.in_progress() + ahead + [host]:
            if h not in finished:
                free.pop(h, None)
        todo = self._to_place(self.in_progress() + ahead + [host])
        # Gone from the hosts finished by then (their room counts as free above).
        placed = {i.id: "" for i in todo if i.host in finished}
        try:
            for h in finished:
                self.hosts[h] = HostStep.DONE
            fit = self._fit(free, double_moves=False, min_vcpus=min((i.vcpus for i in todo), default=0))
            return self._place_all(todo, fit, placed)
        finally:
            self.hosts.update(saved)

    def _eta_done(self, hosts: list[str], now: float) -> dict[str, float]:
        """When each instance still on `hosts` is likely off it: its group's slots taken in turn, each for a lead
        time, a move and the recovery time (an estimate for warning ahead, not a promise)."""
        done: dict[str, float] = {}
        queues: dict[str, list[Inst]] = {}
        for h in hosts:
            for i in self.on_host(h):
                move = self.est.duration(i.action or self.default_for(i)[0], i.memory_mb)
                if i.step == Step.ACTING:
                    done[i.id] = now + move
                elif i.step == Step.NOTIFIED:
                    done[i.id] = max(now, i.actions_at or now) + move
                elif i.group is None:
                    done[i.id] = now + i.lead_s + move
                else:
                    queues.setdefault(i.group, []).append(i)
        for gid, queue in queues.items():
            g = self.groups[gid]
            slots: list[float] = []
            for m in self.members(gid):
                move = self.est.duration(m.action or self.default_for(m)[0], m.memory_mb)
                if m.step == Step.ACTING:
                    slots.append(now + move + g.recovery_s)
                elif m.step == Step.NOTIFIED:
                    slots.append(max(now, m.actions_at or now) + move + g.recovery_s)
                elif m.done_at is not None and now < m.done_at + g.recovery_s:
                    slots.append(m.done_at + g.recovery_s)
            slots = sorted(slots)[: g.max_impacted]
            slots += [now] * max(0, g.max_impacted - len(slots))
            heapq.heapify(slots)
            for i in sorted(queue, key=lambda i: (i.lead_s, i.id)):
                free = heapq.heappop(slots)
                end = free + i.lead_s + self.est.duration(self.default_for(i)[0], i.memory_mb)
                done[i.id] = end
                heapq.heappush(slots, end + g.recovery_s)
        return done

    def _admission_etas(self, later: list[str], ahead: list[str], now: float) -> dict[str, float]:
        """When each of `later` (pending hosts that cannot be emptied yet, most urgent first) could be admitted:
        once enough hosts in progress are maintained that it has a parallel slot and its instances fit (the one
        placement, on the hosts maintained by then). Hosts that would not fit even then are left out."""
        progress = self.in_progress()
        dones = self._eta_done(progress, now)
        events = sorted((max([now] + [dones.get(i.id, now) for i in self.on_host(h)]), h) for h in progress)
        slots = self.max_parallel - len(progress) - len(ahead)
        finished: list[str] = []
        t = now
        etas: dict[str, float] = {}
        for h in later:
            if len(etas) + len(ahead) >= self.max_parallel:
                break
            while events and (slots <= 0 or not self._fits_after(h, finished, ahead + list(etas))):
                t, done = events.pop(0)
                finished.append(done)
                slots += 1
            if slots <= 0 or not self._fits_after(h, finished, ahead + list(etas)):
                break
            slots -= 1
            etas[h] = t
        return etas
