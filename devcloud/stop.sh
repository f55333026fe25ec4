#!/usr/bin/env bash
# Stop the mini cloud started by start.sh: signals exactly the PIDs recorded in
# DIR/run/*.pid (each was started with setsid, so its own process group holds
# only that service and its workers).  -p also deletes DIR (databases, logs).
# -s NAME stops just one service (e.g. nova-compute2); start.sh restarts it.
#   stop.sh [-d DIR] [-p] [-s NAME]
set -uo pipefail
BASE="${MINICLOUD_DIR:-/tmp/fenix-devcloud}"; PURGE=0; ONLY=""
while getopts "d:ps:h" o; do
  case "$o" in
    d) BASE="$OPTARG" ;; p) PURGE=1 ;; s) ONLY="$OPTARG" ;;
    *) sed -n '2,6p' "$0"; exit 2 ;;
  esac
done
RUN="$BASE/run"
[ -d "$RUN" ] || { echo "no $RUN: nothing to stop"; exit 0; }

leader() {  # print the recorded pid if it is still the live group leader we started
  local f="$RUN/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || { rm -f "$f"; return 1; }
  # pgid == pid only if it is still our setsid'd leader (guards PID reuse)
  if [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" != "$pid" ]; then
    echo "skipped $1: pid $pid is not the group leader we started" >&2
    rm -f "$f"; return 1
  fi
  echo "$pid"
}

stop_group() {  # stop_group NAME...: TERM all groups, wait <= 20 s, then KILL
  local n pid i left names=() pids=()
  for n in "$@"; do
    pid="$(leader "$n")" || continue
    kill -TERM -- "-$pid" 2>/dev/null; names+=("$n"); pids+=("$pid")
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  for ((i = 0; i < 100; i++)); do
    left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.2
  done
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      kill -KILL -- "-${pids[$i]}" 2>/dev/null; echo "killed ${names[$i]} (pgid ${pids[$i]})"
    else
      echo "stopped ${names[$i]} (pgid ${pids[$i]})"
    fi
    rm -f "$RUN/${names[$i]}.pid"
  done
}

if [ -n "$ONLY" ]; then stop_group "$ONLY"; exit 0; fi
svcs=()
for f in "$RUN"/*.pid; do
  [ -e "$f" ] || continue
  n="$(basename "$f" .pid)"
  case "$n" in rabbitmq|rabbit-beam|epmd) ;; *) svcs+=("$n") ;; esac
done
stop_group "${svcs[@]}"          # OpenStack services together
stop_group rabbitmq              # beam.smp is in this group; lets it flush
rm -f "$RUN/rabbit-beam.pid"
stop_group epmd
if [ "$PURGE" = 1 ]; then rm -rf "$BASE"; echo "removed $BASE"; fi
