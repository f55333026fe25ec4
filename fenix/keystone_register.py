"""Register Fenix in a cloud's Keystone: the catalog entry of service type `maintenance` (what Fenix-era VNFMs
look up) with its endpoints, and optionally Fenix's service user (the one FENIX_AUTH_MODE=keystone validates
tokens with). Idempotent: a second run changes nothing, or only the endpoint URLs that differ.

    python -m fenix.keystone_register --public-url http://fenix.example.com:12347/v1 [--cloud NAME] ...

It needs a cloud admin's credentials: a clouds.yaml cloud (--cloud or OS_CLOUD) or the OS_* variables. The
service user's password comes from FENIX_KEYSTONE_PASSWORD and is set only when the user is created. The same
steps with the `openstack` CLI are in docs/keystone.md; devcloud/register-fenix.sh runs this for the minicloud.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

SERVICE_TYPE = "maintenance"
INTERFACES = ("public", "internal", "admin")


class RegisterError(RuntimeError):
    pass


def say(message: str) -> None:
    sys.stdout.write(f"register-fenix: {message}\n")


def ensure_catalog(conn: Any, *, name: str, urls: dict[str, str], region: str,
                   description: str = "Fenix: rolling infrastructure maintenance") -> str:
    """The service `name` of type maintenance with one endpoint per interface in `urls`; returns its id."""
    from openstack import exceptions as sdk_exc

    ident = conn.identity
    services = [s for s in ident.services(type=SERVICE_TYPE) if s.name == name]
    if len(services) > 1:
        raise RegisterError(f"several services named {name} of type {SERVICE_TYPE}: "
                            f"{', '.join(s.id for s in services)}; delete all but one")
    if services:
        service = services[0]
        say(f"service {name} (type {SERVICE_TYPE}) exists: {service.id}")
    else:
        service = ident.create_service(name=name, type=SERVICE_TYPE, description=description, enabled=True)
        say(f"created service {name} (type {SERVICE_TYPE}): {service.id}")

    existing = {e.interface: e for e in ident.endpoints(service_id=service.id, region_id=region)}
    region_known = False
    for interface, url in urls.items():
        endpoint = existing.get(interface)
        if endpoint is None:
            if not region_known:
                try:
                    ident.get_region(region)
                except sdk_exc.NotFoundException:
                    ident.create_region(id=region)
                    say(f"created region {region}")
                region_known = True
            ident.create_endpoint(service_id=service.id, interface=interface, url=url, region_id=region)
            say(f"created {interface} endpoint {url} ({region})")
        elif (old := endpoint.url) != url:
            ident.update_endpoint(endpoint, url=url)
            say(f"changed {interface} endpoint {old} -> {url} ({region})")
        else:
            say(f"{interface} endpoint {url} ({region}) is registered")
    return str(service.id)


def ensure_service_user(conn: Any, *, user: str, password: str | None, project: str, role: str,
                        domain: str) -> None:
    """`user` with `role` on `project` (both in `domain`; the project is created if missing)."""
    ident = conn.identity
    # Lists filtered by name: one call each (`find_*` first tries the name as an id).
    dom = _one((d for d in ident.domains(name=domain) if d.name == domain), f"domain {domain}")
    proj = next((p for p in ident.projects(name=project, domain_id=dom.id) if p.name == project), None)
    if proj is None:
        proj = ident.create_project(name=project, domain_id=dom.id, description="Service users")
        say(f"created project {project}")
    found = next((u for u in ident.users(name=user, domain_id=dom.id) if u.name == user), None)
    if found is None:
        if not password:
            raise RegisterError(f"user {user} does not exist: set FENIX_KEYSTONE_PASSWORD to create it")
        found = ident.create_user(name=user, password=password, domain_id=dom.id, default_project_id=proj.id,
                                  description="Fenix: validates API tokens")
        say(f"created user {user}")
    else:
        say(f"user {user} exists (its password is left alone)")
    role_ = _one((r for r in ident.roles(name=role) if r.name == role), f"role {role}")
    if ident.validate_user_has_project_role(proj, found, role_):
        say(f"user {user} has role {role} on project {project}")
    else:
        ident.assign_project_role_to_user(proj, found, role_)
        say(f"gave user {user} role {role} on project {project}")


def _one(found: Any, what: str) -> Any:
    item = next(iter(found), None)
    if item is None:
        raise RegisterError(f"no {what} in Keystone")
    return item


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fenix.keystone_register", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--public-url", required=True, help="Fenix's public endpoint including /v1, "
                                                       "e.g. http://fenix.example.com:12347/v1")
    p.add_argument("--internal-url", help="also an internal endpoint")
    p.add_argument("--admin-url", help="also an admin endpoint")
    p.add_argument("--region", default=os.environ.get("OS_REGION_NAME") or "RegionOne",
                   help="endpoint region (default $OS_REGION_NAME or RegionOne; created if missing)")
    p.add_argument("--name", default="fenix", help="service name (default fenix)")
    p.add_argument("--cloud", default=os.environ.get("OS_CLOUD"), help="clouds.yaml cloud (default $OS_CLOUD)")
    p.add_argument("--user", help="also ensure this service user (password: $FENIX_KEYSTONE_PASSWORD, used "
                                  "only to create it) with --role on --project")
    p.add_argument("--project", default="service", help="the service user's project (default service)")
    p.add_argument("--role", default="service", help="the service user's role (default service: lets it "
                                                     "validate tokens)")
    p.add_argument("--domain", default="Default", help="domain of the user and project (default Default)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    import openstack
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    urls = {i: u for i, u in zip(INTERFACES, (args.public_url, args.internal_url, args.admin_url), strict=True)
            if u}
    try:
        conn = openstack.connect(cloud=args.cloud) if args.cloud else openstack.connect()
        if args.user:
            ensure_service_user(conn, user=args.user, password=os.environ.get("FENIX_KEYSTONE_PASSWORD"),
                                project=args.project, role=args.role, domain=args.domain)
        ensure_catalog(conn, name=args.name, urls=urls, region=args.region)
    except (RegisterError, sdk_exc.SDKException, ksa_exc.ClientException) as e:
        sys.stderr.write(f"register-fenix: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
