#!/usr/bin/env bash
# Register Fenix in a dev cloud's Keystone: service type `maintenance` with its endpoints, and optionally
# Fenix's service user. Idempotent. Defaults to the minicloud (/tmp/mc/clouds.yaml, cloud `minicloud`) and
# to Fenix on this machine (http://127.0.0.1:12347/v1); any other cloud works through OS_CLOUD /
# OS_CLIENT_CONFIG_FILE or --cloud. All options are those of `python -m fenix.keystone_register --help`;
# docs/keystone.md shows the same steps with the openstack CLI.
#
#   devcloud/register-fenix.sh                                  # public endpoint http://127.0.0.1:12347/v1
#   FENIX_KEYSTONE_PASSWORD=... devcloud/register-fenix.sh --user fenix --internal-url http://10.0.0.5:12347/v1
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${OS_CLIENT_CONFIG_FILE:-}" ] && [ -z "${OS_CLOUD:-}" ] && [ -f /tmp/mc/clouds.yaml ]; then
  export OS_CLIENT_CONFIG_FILE=/tmp/mc/clouds.yaml OS_CLOUD=minicloud
fi
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then python=$repo/.venv/bin/python; else python=python3; fi
fi
args=("$@")
case " $* " in
  *" --public-url "*|*" --public-url="*|*" -h "*|*" --help "*) ;;
  *) args+=(--public-url "${FENIX_PUBLIC_URL:-http://127.0.0.1:12347/v1}") ;;
esac
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m fenix.keystone_register "${args[@]}"
