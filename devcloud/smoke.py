#!/usr/bin/env python3
"""End-to-end smoke test of the mini cloud through openstacksdk only.

Exercises the Nova operations an infrastructure-maintenance tool needs:
services/hypervisors, disable/enable with reason (2.53+), servers per host,
server groups (anti-affinity), live migration, cold migration + confirm,
os-migrations, evacuate, shelve/unshelve.  Prints what it sees and the time
each step took; exits non-zero on the first failed expectation.

  OS_CLIENT_CONFIG_FILE=/tmp/fenix-devcloud/clouds.yaml python smoke.py [--keep]
"""
import os
import subprocess
import sys
import time

import openstack

T0 = time.monotonic()
TIMINGS = {}


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def check(cond, msg):
    if not cond:
        log("FAIL: " + msg)
        sys.exit(1)


def timed(name):
    class _T:
        def __enter__(self):
            self.t = time.monotonic()

        def __exit__(self, *exc):
            TIMINGS[name] = time.monotonic() - self.t
            if exc[0] is None:
                log("  %s took %.1fs" % (name, TIMINGS[name]))
    return _T()


def wait_status(conn, server, status, timeout=120):
    return conn.compute.wait_for_server(server, status=status, wait=timeout,
                                        interval=0.5, failures=["ERROR"])


def wait_moved(conn, server, old_host, statuses=("ACTIVE",), timeout=120):
    """Wait until the server left old_host and settled (no task_state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = conn.compute.get_server(server)
        check(s.status != "ERROR", "server %s went to ERROR: %s"
              % (s.name, s.fault))
        if s.compute_host != old_host and s.status in statuses \
                and not s.task_state:
            return s
        time.sleep(0.5)
    check(False, "server %s did not leave %s within %ss"
          % (server.name, old_host, timeout))


def restart_compute(host):
    """Restart nova-compute on host via stop.sh -s / start.sh (idempotent)."""
    here = os.path.dirname(os.path.abspath(__file__))
    base = os.environ.get("MINICLOUD_DIR", "/tmp/fenix-devcloud")
    subprocess.run([os.path.join(here, "stop.sh"), "-d", base,
                    "-s", "nova-" + host], check=True)
    subprocess.run([os.path.join(here, "start.sh"), "-d", base],
                   check=True, stdout=subprocess.DEVNULL)


def force_up(conn, svc, timeout=120):
    """Unset forced_down; Nova refuses while 'done' evacuations remain."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return conn.compute.update_service_forced_down(svc, forced=False)
        except openstack.exceptions.BadRequestException as e:
            check(time.monotonic() < deadline, "cannot force up: %s" % e)
            time.sleep(1)


def servers_on(conn, host):
    # sdk maps compute_host= to Nova's admin-only ?host= filter
    return sorted(s.name for s in
                  conn.compute.servers(all_projects=True, compute_host=host))


def show_hosts(conn, hosts):
    for h in hosts:
        log("  %-9s %s" % (h, servers_on(conn, h)))


def main():
    keep = "--keep" in sys.argv
    conn = openstack.connect(cloud=os.environ.get("OS_CLOUD", "minicloud"))
    c = conn.compute
    tag = "smoke%d" % (int(time.time()) % 100000)

    # ---- undo leftovers of an interrupted earlier run
    old = [s for s in c.servers(all_projects=True) if s.name.startswith("smoke")]
    for s in old:
        c.delete_server(s)
    for s in old:
        c.wait_for_delete(s, interval=0.5, wait=60)
    for g in c.server_groups(all_projects=True):
        if g.name.startswith("grp-smoke"):
            c.delete_server_group(g)
    if old:
        log("deleted %d servers left by an earlier run" % len(old))
    for s in c.services(binary="nova-compute"):
        if s.is_forced_down:
            restart_compute(s.host)
            force_up(conn, s)
            log("reset forced_down on %s" % s.host)
        if s.status == "disabled" and "smoke" in (s.disabled_reason or ""):
            c.enable_service(s)
            log("re-enabled %s left disabled by an earlier run" % s.host)

    # ---- services and hypervisors
    svcs = list(c.services())
    for s in svcs:
        log("service %-15s %-9s %-8s %-4s %s" % (
            s.binary, s.host, s.status, s.state, s.disabled_reason or ""))
    hosts = sorted(s.host for s in svcs if s.binary == "nova-compute")
    check(len(hosts) >= 2, "need at least 2 nova-compute hosts")
    for hv in c.hypervisors(details=True):
        log("hypervisor %s type=%s state=%s status=%s" % (
            hv.name, hv.hypervisor_type, hv.state, hv.status))

    # ---- disable / enable with reason (update_service, 2.53+)
    h0 = hosts[0]
    with timed("disable+enable service"):
        svc = next(s for s in svcs
                   if s.binary == "nova-compute" and s.host == h0)
        d = c.disable_service(svc, disabled_reason="maintenance " + tag)
        log("disabled %s: status=%s reason=%r" % (h0, d.status,
                                                   d.disabled_reason))
        again = next(s for s in c.services(binary="nova-compute", host=h0))
        check(again.status == "disabled" and again.disabled_reason ==
              "maintenance " + tag, "service not disabled with reason")
        e = c.enable_service(svc)
        check(e.status == "enabled", "service not re-enabled")
        log("re-enabled %s: status=%s reason=%r" % (h0, e.status,
                                                     e.disabled_reason))

    # ---- image, flavor, server group, servers
    image = conn.image.find_image("cirros-fake", ignore_missing=False)
    flavor = c.find_flavor("m1.tiny", ignore_missing=False)
    group = c.create_server_group(name="grp-" + tag, policy="anti-affinity")
    log("server group %s policy=%s" % (group.name, group.policy))
    names = ["%s-a%d" % (tag, i) for i in range(2)] + ["%s-free" % tag]
    # the live migration below needs a free host outside the group: with only
    # 2 hosts a1 stays out of the anti-affinity group
    grouped = names[:2] if len(hosts) >= 3 else names[:1]
    servers = []
    with timed("create 3 servers"):
        for n in names:
            kw = {}
            if n in grouped:
                kw["scheduler_hints"] = {"group": group.id}
            servers.append(c.create_server(
                name=n, image_id=image.id, flavor_id=flavor.id,
                networks="none", **kw))
        servers = [wait_status(conn, s, "ACTIVE") for s in servers]
    for s in servers:
        log("server %s status=%s host=%s hypervisor=%s" % (
            s.name, s.status, s.compute_host, s.hypervisor_hostname))
    a0, a1, free = servers
    if len(grouped) == 2:
        check(a0.compute_host != a1.compute_host,
              "anti-affinity members share a host")
    grp = c.get_server_group(group.id)
    log("group members: %s" % sorted(grp.member_ids))
    show_hosts(conn, hosts)

    # ---- drain-style live migration: disable source, live-migrate, enable
    src = a0.compute_host
    svc = next(s for s in c.services(binary="nova-compute", host=src))
    c.disable_service(svc, disabled_reason="drain " + tag)
    with timed("live migration"):
        c.live_migrate_server(a0, host=None, block_migration="auto")
        seen = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            s = c.get_server(a0)
            for m in c.server_migrations(a0):  # only while in progress
                seen.add("in-progress:%s" % m.status)
            if s.compute_host != src and s.status == "ACTIVE" \
                    and not s.task_state:
                break
            check(s.status != "ERROR", "live migration put server in ERROR")
            time.sleep(0.3)
        a0 = wait_moved(conn, a0, src)
    check(a0.compute_host != src, "live migration did not move the server")
    log("live-migrated %s: %s -> %s (status %s)" % (
        a0.name, src, a0.compute_host, a0.status))
    if len(grouped) == 2:
        check(a0.compute_host != a1.compute_host,
              "live migration broke anti-affinity")
    # Nova flips instance.host/task_state slightly *before* it marks the
    # migration record 'completed': poll the record too.
    deadline = time.monotonic() + 30
    while True:
        migs = list(c.migrations(server_id=a0.id,
                                 migration_type="live-migration"))
        if any(m.status == "completed" for m in migs):
            break
        check(time.monotonic() < deadline,
              "no completed live-migration record: %s"
              % [m.status for m in migs])
        time.sleep(0.3)
    for m in migs:
        log("  os-migrations: type=%s %s->%s status=%s" % (
            m.migration_type, m.source_compute, m.dest_compute, m.status))
    log("  seen while running: %s" % sorted(seen))
    c.enable_service(svc)
    show_hosts(conn, hosts)

    # ---- cold migration + confirm
    src = free.compute_host
    with timed("cold migration+confirm"):
        c.migrate_server(free)
        free = wait_status(conn, free, "VERIFY_RESIZE")
        log("cold-migrated %s: %s -> %s, status %s" % (
            free.name, src, free.compute_host, free.status))
        c.confirm_server_resize(free)
        free = wait_status(conn, free, "ACTIVE")
    check(free.compute_host != src, "cold migration did not move the server")
    migs = list(c.migrations(server_id=free.id, migration_type="migration"))
    for m in migs:
        log("  os-migrations: type=%s %s->%s status=%s" % (
            m.migration_type, m.source_compute, m.dest_compute, m.status))
    deadline = time.monotonic() + 30
    while not any(m.status == "confirmed" for m in migs):
        check(time.monotonic() < deadline, "cold migration not confirmed")
        time.sleep(0.5)
        migs = list(c.migrations(server_id=free.id,
                                 migration_type="migration"))

    # ---- evacuate (source forced down, as after a host failure)
    src = free.compute_host
    svc = next(s for s in c.services(binary="nova-compute", host=src))
    with timed("evacuate"):
        c.update_service_forced_down(svc, forced=True)
        c.evacuate_server(free)
        # microversion >= 2.95 (sdk default): evacuated server is SHUTOFF
        free = wait_moved(conn, free, src, statuses=("ACTIVE", "SHUTOFF"))
    log("evacuated %s: %s -> %s, status %s" % (
        free.name, src, free.compute_host, free.status))
    for m in c.migrations(server_id=free.id, migration_type="evacuation"):
        log("  os-migrations: type=%s %s->%s status=%s" % (
            m.migration_type, m.source_compute, m.dest_compute, m.status))
    # Real Nova refuses forced_down=False while 'done' evacuation records
    # exist: the source nova-compute must restart first (it then cleans up
    # and marks them 'completed').  Restart it through stop.sh/start.sh.
    with timed("restart evacuated host + unset forced_down"):
        residents = list(c.servers(all_projects=True, compute_host=src))
        restart_compute(src)
        force_up(conn, svc)
        deadline = time.monotonic() + 60
        while next(c.services(binary="nova-compute", host=src)).state != "up":
            check(time.monotonic() < deadline, "%s not up again" % src)
            time.sleep(1)
    for m in c.migrations(server_id=free.id, migration_type="evacuation"):
        log("  after restart: type=%s %s->%s status=%s" % (
            m.migration_type, m.source_compute, m.dest_compute, m.status))
    for r in residents:  # guests on the restarted host must still run
        r = c.get_server(r)
        log("  still on %s after restart: %s status=%s power_state=%s" % (
            src, r.name, r.status, r.power_state))
        check(r.status == "ACTIVE" and r.power_state == 1,
              "guest %s did not survive the nova-compute restart" % r.name)

    # ---- shelve / unshelve
    with timed("shelve+unshelve"):
        c.shelve_server(a1)
        a1 = wait_status(conn, a1, "SHELVED_OFFLOADED")
        log("shelved %s: status=%s host=%s" % (a1.name, a1.status,
                                                a1.compute_host))
        c.unshelve_server(a1)
        a1 = wait_status(conn, a1, "ACTIVE")
    log("unshelved %s: status=%s host=%s" % (a1.name, a1.status,
                                              a1.compute_host))
    show_hosts(conn, hosts)

    if not keep:
        with timed("cleanup"):
            for s in (a0, a1, free):
                c.delete_server(s)
            for s in (a0, a1, free):
                c.wait_for_delete(s, interval=0.5, wait=60)
            c.delete_server_group(group)
    log("timings: " + ", ".join("%s=%.1fs" % kv for kv in TIMINGS.items()))
    log("SMOKE OK")


if __name__ == "__main__":
    main()
