"""The demo cloud: compute hosts full of instances from three projects, one with an HA pair."""

from __future__ import annotations

from demo.vnfm import ConstraintProfile, VnfmProject
from fenix.cloud.simulated import SimGroupSpec, SimHostSpec, SimSeed, SimServerSpec
from fenix.models.cloud import GroupPolicy
from fenix.models.session import InstanceAction

FLAVOR_VCPUS = 1
FLAVOR_MB = 2048

# project -> (instances besides the HA pair, action its VNFM chooses, HA pair?)
PROJECTS: dict[str, tuple[int, InstanceAction, bool]] = {
    "vnf-ha": (2, InstanceAction.LIVE_MIGRATE, True),
    "vnf-web": (4, InstanceAction.MIGRATE, False),
    "vnf-batch": (2, InstanceAction.OWN_ACTION, False),
}


def demo_seed(hosts: int = 4, vcpus_per_host: int = 3, full: bool = True) -> SimSeed:
    """`hosts` computes; with `full`, every vCPU is used, so the session must ask for SCALE_IN first."""
    seed = SimSeed(hosts=[SimHostSpec(name=f"compute-{i}", vcpus=vcpus_per_host,
                                      memory_mb=vcpus_per_host * FLAVOR_MB) for i in range(hosts)])
    for project, (count, _, ha) in PROJECTS.items():
        if ha:
            seed.groups.append(SimGroupSpec(name=f"{project}-ha", project_id=project, policy=GroupPolicy.ANTI_AFFINITY))
            seed.servers += [SimServerSpec(name=f"{project}-ha-{i}", project_id=project, vcpus=FLAVOR_VCPUS,
                                           memory_mb=FLAVOR_MB, group=f"{project}-ha") for i in range(2)]
        seed.servers += [SimServerSpec(name=f"{project}-{i}", project_id=project, vcpus=FLAVOR_VCPUS,
                                       memory_mb=FLAVOR_MB) for i in range(count)]
    if full:
        spare = hosts * vcpus_per_host - len(seed.servers)
        seed.servers += [SimServerSpec(name=f"vnf-web-{PROJECTS['vnf-web'][0] + i}", project_id="vnf-web",
                                       vcpus=FLAVOR_VCPUS, memory_mb=FLAVOR_MB) for i in range(max(0, spare))]
    return seed


def demo_projects(constraints: ConstraintProfile | None = None) -> list[VnfmProject]:
    """The sample VNFM's view of PROJECTS: the action each one chooses and its HA group (tokens come later).

    With `constraints`, every VNFM registers instance and group constraints before the session (the `vnf` demo).
    """
    return [VnfmProject(project_id=p, token="", action=action, scale_in_step=2, server_prefix=p,
                        ha_group=f"{p}-ha" if ha else None, constraints=constraints)
            for p, (_, action, ha) in PROJECTS.items()]


# The `vnf` demo runs in real time on the dev server: seconds, where real VNFs would register minutes.
VNF_DEMO_CONSTRAINTS = ConstraintProfile(lead_time=3, recovery_time=2, ha_recovery_time=4, max_impacted_members=2)
