#!/usr/bin/env bash
# Print RSS and PSS (MiB) of every process in the mini cloud's process groups.
BASE="${1:-${MINICLOUD_DIR:-/tmp/fenix-devcloud}}"
tot_rss=0; tot_pss=0
for f in "$BASE"/run/*.pid; do
  name=$(basename "$f" .pid); pg=$(cat "$f")
  [ "$name" = rabbit-beam ] && continue
  rss=0; pss=0; n=0
  for p in $(ps -eo pid=,pgid= | awk -v g="$pg" '$2==g{print $1}'); do
    r=$(awk '/^Rss:/{print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    s=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0})); n=$((n + 1))
  done
  printf '%-16s procs=%d rss=%5d MiB pss=%5d MiB\n' "$name" "$n" $((rss/1024)) $((pss/1024))
  tot_rss=$((tot_rss + rss)); tot_pss=$((tot_pss + pss))
done
printf '%-16s            rss=%5d MiB pss=%5d MiB\n' TOTAL $((tot_rss/1024)) $((tot_pss/1024))
