#!/usr/bin/env bash
# Start a throw-away OpenStack "mini cloud" on loopback: real Keystone, Glance,
# Placement and Nova (api, conductor, scheduler, N x nova-compute with the
# fake virt driver), RabbitMQ, and a read-only Neutron stand-in.
#
#   start.sh [-v VENV] [-d DIR] [-n NCOMPUTES]
#
# Env overrides: MINICLOUD_VENV (/tmp/fenix-devcloud-venv), MINICLOUD_DIR (/tmp/fenix-devcloud),
# MINICLOUD_COMPUTES (2, or the count used last time in DIR),
# MINICLOUD_DRIVER (minicloud_fake.LiveMigrateDriver, see pyshim/; or e.g. fake.FakeDriver),
# MINICLOUD_PYTHON (python3), MINICLOUD_SKIP_INSTALL (0),
# ports: KEYSTONE_PORT 5000, NOVA_PORT 8774, PLACEMENT_PORT 8778,
# GLANCE_PORT 9292, NEUTRON_PORT 9696, RABBIT_PORT 5672, RABBIT_DIST_PORT 25672,
# EPMD_PORT 4370.  Idempotent: re-running skips what is done or running.
# Stop with stop.sh -d DIR (kills only the PIDs recorded in DIR/run/*.pid).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${MINICLOUD_VENV:-/tmp/fenix-devcloud-venv}"
BASE="${MINICLOUD_DIR:-/tmp/fenix-devcloud}"
NCOMP="${MINICLOUD_COMPUTES:-}"
while getopts "v:d:n:h" o; do
  case "$o" in
    v) VENV="$OPTARG" ;; d) BASE="$OPTARG" ;; n) NCOMP="$OPTARG" ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done
mkdir -p "$BASE"; BASE="$(cd "$BASE" && pwd)"
# default: as many computes as last time in this DIR, else 2
[ -n "$NCOMP" ] || NCOMP="$(cat "$BASE/computes" 2>/dev/null || echo 2)"
echo "$NCOMP" > "$BASE/computes"
mkdir -p "$VENV"; VENV="$(cd "$VENV" && pwd)"

DRIVER="${MINICLOUD_DRIVER:-minicloud_fake.LiveMigrateDriver}"
PY="${MINICLOUD_PYTHON:-python3}"
ADMIN_PASSWORD="${MINICLOUD_ADMIN_PASSWORD:-minicloud-admin}"
export KEYSTONE_PORT="${KEYSTONE_PORT:-5000}" NOVA_PORT="${NOVA_PORT:-8774}"
export PLACEMENT_PORT="${PLACEMENT_PORT:-8778}" GLANCE_PORT="${GLANCE_PORT:-9292}"
export NEUTRON_PORT="${NEUTRON_PORT:-9696}" RABBIT_PORT="${RABBIT_PORT:-5672}"
RABBIT_DIST_PORT="${RABBIT_DIST_PORT:-25672}" EPMD_PORT="${EPMD_PORT:-4370}"
PKGS=(nova==34.0.0 openstack-placement==16.0.0 keystone==30.0.0 glance==33.0.0
      openstacksdk==4.22.0 python-openstackclient gunicorn)

T0=$(date +%s)
say() { printf '[minicloud %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
RUN="$BASE/run"; LOG="$BASE/log"; ETC="$BASE/etc"; DATA="$BASE/data"
mkdir -p "$RUN" "$LOG" "$ETC"/{keystone,nova,placement,glance} \
         "$DATA"/{nova/locks,glance/images,glance/staging,glance/tasks,glance/locks,rabbit/home}

# ---------------------------------------------------------------- install
if [ "${MINICLOUD_SKIP_INSTALL:-0}" != 1 ]; then
  if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    say "apt: installing rabbitmq-server"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"  # CI runners are not always root
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
  fi
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  if ! "$VENV/bin/python" - "${PKGS[@]}" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    have = version(name)
    if want and have != want:
        sys.exit(1)
EOF
  then
    say "pip: installing ${PKGS[*]} into $VENV"
    "$VENV/bin/pip" install -q -U pip >/dev/null
    # constraints.txt = pip freeze of the tested set (no upper-constraints
    # file is reachable here, and unpinned deps drift under OpenStack)
    "$VENV/bin/pip" install -q -c "$HERE/constraints.txt" "${PKGS[@]}"
  fi
fi
B="$VENV/bin"
# SQLite shim for every OpenStack process we run (see pyshim/sitecustomize.py)
export PYTHONPATH="$HERE/pyshim${PYTHONPATH:+:$PYTHONPATH}"

# ---------------------------------------------------------------- config
render() {  # render TEMPLATE DEST [KEY=VALUE...]
  local src="$HERE/templates/$1" dst="$2"; shift 2
  local ksauth; ksauth="$(cat "$HERE/templates/_ksauth.part")"
  local text; text="$(cat "$src")"
  text="${text//@KSAUTH@/$ksauth}"
  text="${text//@BASE@/$BASE}"
  text="${text//@ADMIN_PASSWORD@/$ADMIN_PASSWORD}"
  text="${text//@KEYSTONE_PORT@/$KEYSTONE_PORT}"
  text="${text//@RABBIT_PORT@/$RABBIT_PORT}"
  text="${text//@COMPUTE_DRIVER@/$DRIVER}"
  local kv
  for kv in "$@"; do text="${text//@${kv%%=*}@/${kv#*=}}"; done
  printf '%s\n' "$text" > "$dst"
}
render keystone.conf "$ETC/keystone/keystone.conf"
render placement.conf "$ETC/placement/placement.conf"
render glance-api.conf "$ETC/glance/glance-api.conf"
cp "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance/"
render nova.conf "$ETC/nova/nova.conf"
cp "$VENV/etc/nova/api-paste.ini" "$ETC/nova/"
for i in $(seq 1 "$NCOMP"); do
  render nova-compute.conf "$ETC/nova/nova-compute$i.conf" "HOST=compute$i"
  mkdir -p "$DATA/nova/compute$i/instances"
done
render rabbitmq.conf "$DATA/rabbit/rabbitmq.conf"
cat > "$BASE/clouds.yaml" <<EOF
clouds:
  minicloud:
    auth:
      auth_url: http://127.0.0.1:$KEYSTONE_PORT/v3
      username: admin
      password: $ADMIN_PASSWORD
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
export OS_CLIENT_CONFIG_FILE="$BASE/clouds.yaml" OS_CLOUD=minicloud

# ---------------------------------------------------------------- helpers
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
launch() {  # launch NAME CMD...  (own session => stop.sh can signal the group)
  local name="$1"; shift
  if alive "$name"; then say "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
  echo $! > "$RUN/$name.pid"
}
wait_http() {  # wait_http NAME URL TIMEOUT
  local end=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    curl -s -o /dev/null -m 5 "$2" && { say "$1 answers on $2"; return; }
    alive "$1" || { say "$1 died, see $LOG/$1.log"; tail -20 "$LOG/$1.log"; exit 1; }
    sleep 0.5
  done
  say "$1 not answering after $3 s, see $LOG/$1.log"; tail -20 "$LOG/$1.log"; exit 1
}
wal() { "$B/python" -c 'import sqlite3,sys; [sqlite3.connect(f).execute("pragma journal_mode=wal").fetchall() for f in sys.argv[1:]]' "$@"; }
gunicorn_app() {  # gunicorn_app NAME PORT FACTORY ENVVAR=VALUE
  launch "$1" env "$4" "$B/gunicorn" --bind "127.0.0.1:$2" --workers 1 \
    --worker-class gthread --threads 4 --timeout 300 --graceful-timeout 5 \
    --no-control-socket --pythonpath "$HERE" "wsgi_apps:$3"
}

# ---------------------------------------------------------------- rabbitmq
RMQ_ENV=(HOME="$DATA/rabbit/home" RABBITMQ_NODENAME="minicloud@localhost"
  RABBITMQ_CONFIG_FILE="$DATA/rabbit/rabbitmq.conf" RABBITMQ_CONF_ENV_FILE=/dev/null
  RABBITMQ_MNESIA_BASE="$DATA/rabbit/mnesia" RABBITMQ_LOG_BASE="$LOG/rabbit"
  RABBITMQ_ENABLED_PLUGINS_FILE="$DATA/rabbit/enabled_plugins"
  RABBITMQ_PID_FILE="$RUN/rabbit-beam.pid" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"
  ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$EPMD_PORT"
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
echo '[].' > "$DATA/rabbit/enabled_plugins"
launch epmd epmd -address 127.0.0.1 -port "$EPMD_PORT"
launch rabbitmq env "${RMQ_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server

# ---------------------------------------------------------------- keystone
KS="$B/keystone-manage --config-file $ETC/keystone/keystone.conf"
if [ ! -f "$DATA/.keystone-done" ]; then
  say "keystone: db_sync, fernet, bootstrap"
  $KS db_sync >>"$LOG/setup.log" 2>&1
  $KS fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$LOG/setup.log" 2>&1
  $KS credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$LOG/setup.log" 2>&1
  $KS bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
    --bootstrap-admin-url "http://127.0.0.1:$KEYSTONE_PORT/v3/" \
    --bootstrap-public-url "http://127.0.0.1:$KEYSTONE_PORT/v3/" \
    --bootstrap-internal-url "http://127.0.0.1:$KEYSTONE_PORT/v3/" \
    --bootstrap-region-id RegionOne >>"$LOG/setup.log" 2>&1
  wal "$DATA/keystone.sqlite"
  touch "$DATA/.keystone-done"
fi
gunicorn_app keystone "$KEYSTONE_PORT" "keystone()" \
  OS_KEYSTONE_CONFIG_DIR="$ETC/keystone"

# ---------------------------------------------------------------- DB schemas (while keystone boots)
if [ ! -f "$DATA/.db-done" ]; then
  say "db: placement, glance, nova api/cell0/cell1"
  "$B/placement-manage" --config-file "$ETC/placement/placement.conf" db sync >>"$LOG/setup.log" 2>&1 &
  P1=$!
  "$B/glance-manage" --config-file "$ETC/glance/glance-api.conf" db_sync >>"$LOG/setup.log" 2>&1 &
  P2=$!
  NM="$B/nova-manage --config-file $ETC/nova/nova.conf"
  $NM api_db sync >>"$LOG/setup.log" 2>&1
  $NM cell_v2 map_cell0 --database_connection "sqlite:///$DATA/nova_cell0.sqlite" >>"$LOG/setup.log" 2>&1
  $NM cell_v2 list_cells 2>/dev/null | grep -q ' cell1 ' || \
    $NM cell_v2 create_cell --name cell1 >>"$LOG/setup.log" 2>&1
  $NM db sync >>"$LOG/setup.log" 2>&1
  wait $P1 $P2
  wal "$DATA"/nova_api.sqlite "$DATA"/nova_cell0.sqlite "$DATA"/nova_cell1.sqlite \
      "$DATA"/placement.sqlite "$DATA"/glance.sqlite
  touch "$DATA/.db-done"
fi

wait_http keystone "http://127.0.0.1:$KEYSTONE_PORT/v3" 120
if [ ! -f "$DATA/.catalog-done" ]; then
  "$B/python" "$HERE/bootstrap.py" catalog
  touch "$DATA/.catalog-done"
fi

# ---------------------------------------------------------------- services
for i in $(seq 1 60); do
  "$B/python" -c 'import socket; socket.create_connection(("127.0.0.1", '"$RABBIT_PORT"'), 1)' 2>/dev/null && break
  alive rabbitmq || { say "rabbitmq died"; tail "$LOG/rabbitmq.log"; exit 1; }
  sleep 0.5
done
say "rabbitmq listening on 127.0.0.1:$RABBIT_PORT"

gunicorn_app placement "$PLACEMENT_PORT" "placement()" \
  OS_PLACEMENT_CONFIG_DIR="$ETC/placement"
gunicorn_app glance "$GLANCE_PORT" "glance()" \
  OS_GLANCE_CONFIG_DIR="$ETC/glance"
launch neutron-stub "$B/python" "$HERE/fake_neutron.py" 127.0.0.1 "$NEUTRON_PORT"
gunicorn_app nova-api "$NOVA_PORT" "nova()" \
  OS_NOVA_CONFIG_DIR="$ETC/nova"
launch nova-conductor "$B/nova-conductor" --config-file "$ETC/nova/nova.conf"
launch nova-scheduler "$B/nova-scheduler" --config-file "$ETC/nova/nova.conf"
wait_http placement "http://127.0.0.1:$PLACEMENT_PORT/" 120
for i in $(seq 1 "$NCOMP"); do
  launch "nova-compute$i" "$B/nova-compute" --config-file "$ETC/nova/nova.conf" \
    --config-file "$ETC/nova/nova-compute$i.conf"
done
wait_http glance "http://127.0.0.1:$GLANCE_PORT/" 120
wait_http nova-api "http://127.0.0.1:$NOVA_PORT/" 180

"$B/python" "$HERE/bootstrap.py" wait-computes "$NCOMP" 240
"$B/nova-manage" --config-file "$ETC/nova/nova.conf" cell_v2 discover_hosts >>"$LOG/setup.log" 2>&1
"$B/python" "$HERE/bootstrap.py" resources
say "mini cloud ready with $NCOMP compute hosts"
cat <<EOF
# ---- openstacksdk clouds.yaml entry (also written to $BASE/clouds.yaml) ----
$(sed -n '2,$p' "$BASE/clouds.yaml")
# export OS_CLIENT_CONFIG_FILE=$BASE/clouds.yaml OS_CLOUD=minicloud
# servers must be booted with networks='none' (Neutron is a read-only stand-in)
EOF
