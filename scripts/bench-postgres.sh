#!/usr/bin/env bash
# The PostgreSQL store's end-to-end benchmark (scripts/bench.sh --db
# postgres [N ...]): the same workload as bench.sh (scripts/bench-workload.sh:
# N purchases of one line, 20k accounts, 200 products, a plain mapping), loaded with the
# embedded engine on PostgreSQL (--db postgres://...) by one process, then
# into a fresh database by two processes at once (load --shard 1/2 and
# 2/2), and over loopback HTTP through two `engine serve` replicas of one
# database, one shard each. Prints rows/s and the speed-up of 2 shards over 1.
#
# The server: $CRMLOAD_BENCH_POSTGRES (a DSN whose user may create
# databases), else a throwaway cluster started here with the PostgreSQL
# server binaries (/usr/lib/postgresql/*/bin; as the postgres user when
# run as root), with PostgreSQL's default durability settings.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
[ -x /usr/bin/time ] || { echo "bench-postgres.sh: needs GNU time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
chmod 755 "$work"
cluster=""
cleanup() {
  if [ -n "$cluster" ]; then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/pg_ctl" -D "$cluster" -m fast -w stop >/dev/null 2>&1 || true
    else "$bin/pg_ctl" -D "$cluster" -m fast -w stop >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/crmload" .

admin="${CRMLOAD_BENCH_POSTGRES:-}"
if [ -z "$admin" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$bin/initdb" ] || { echo "bench-postgres.sh: no PostgreSQL server binaries (apt-get install postgresql) and no CRMLOAD_BENCH_POSTGRES" >&2; exit 2; }
  as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); mkdir -p "$work/pg"; chown postgres "$work/pg"; else mkdir -p "$work/pg"; fi
  cluster="$work/pg/data"
  echo bench > "$work/pg/pw"; chmod 644 "$work/pg/pw"
  "${as[@]}" "$bin/initdb" -D "$cluster" -U postgres --pwfile "$work/pg/pw" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/pg_ctl" -D "$cluster" -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB" \
    -l "$work/pg/log" -w start >/dev/null
  admin="postgres://postgres:bench@127.0.0.1:$port/postgres?sslmode=disable"
fi
psql=$(command -v psql || echo "${bin:-}/psql")
newdb() { # newdb NAME: a fresh database; prints its DSN
  "$psql" -q "$admin" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "${admin%/*}/$1?${admin#*\?}"
}

# The workload of bench.sh: reference data, mapping, inputs.
. scripts/bench-workload.sh
bench_reference "$work"
seed() { "$work/crmload" --db "$1" engine seed "$work/units.yaml" "$work/accounts_receivable.csv" "$work/products.csv" >/dev/null; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }

printf "%-9s %12s %12s %12s %9s %14s %9s\n" rows 1proc_s 2shards_s replicas_s speedup 2shards_rows/s failed
for n in "${sizes[@]}"; do
  csv="$work/purchases-$n.csv"
  bench_input "$n" "$csv"

  # One process, the embedded engine on PostgreSQL.
  db=$(newdb "bench1_$n"); seed "$db"
  t0=$(now)
  "$work/crmload" --db "$db" load --quiet --report-dir "$work/r1" -m "$work/mapping.yaml" "$csv" || true
  one=$(since "$t0")
  failed=$(grep -ho '"rows_failed": [0-9]*' "$work"/r1/*/summary.json | awk '{s += $2} END {print s + 0}')

  # Two processes, one shard each, into a fresh database.
  db=$(newdb "bench2_$n"); seed "$db"
  t0=$(now)
  "$work/crmload" --db "$db" load --quiet --report-dir "$work/r2a" --shard 1/2 -m "$work/mapping.yaml" "$csv" & p1=$!
  "$work/crmload" --db "$db" load --quiet --report-dir "$work/r2b" --shard 2/2 -m "$work/mapping.yaml" "$csv" & p2=$!
  wait $p1 || true; wait $p2 || true
  two=$(since "$t0")
  failed2=$("$work/crmload" summary --json "$work"/r2a/* "$work"/r2b/* | grep -o '"rows_failed": [0-9]*' | awk '{print $2}') || true

  # Two engine serve replicas of one database, a shard through each.
  db=$(newdb "bench3_$n"); seed "$db"
  pids=()
  for r in a b; do
    rm -f "$work/url-$r"
    "$work/crmload" --db "$db" engine serve --addr 127.0.0.1:0 --url-file "$work/url-$r" --user bench:bench --organisation B 2>/dev/null & pids+=($!)
  done
  for _ in $(seq 100); do [ -s "$work/url-a" ] && [ -s "$work/url-b" ] && break; sleep 0.1; done
  t0=$(now)
  k=1
  for r in a b; do
    CRMLOAD_PASSWORD=bench "$work/crmload" load --quiet --report-dir "$work/r3$r" --engine "$(cat "$work/url-$r")" --username bench --organisation B \
      --shard $k/2 -m "$work/mapping.yaml" "$csv" & pids+=($!)
    k=2
  done
  wait "${pids[2]}" || true; wait "${pids[3]}" || true
  rep=$(since "$t0")
  kill -INT "${pids[0]}" "${pids[1]}"; wait "${pids[0]}" "${pids[1]}" || true
  rm -rf "$work"/r1 "$work"/r2a "$work"/r2b "$work"/r3a "$work"/r3b

  awk -v n="$n" -v a="$one" -v b="$two" -v c="$rep" -v f="$failed/$failed2" 'BEGIN {
    printf "%-9d %12.2f %12.2f %12.2f %8.2fx %14.0f %9s\n", n, a, b, c, (b > 0 ? a / b : 0), (b > 0 ? n / b : 0), f
    printf "%-9s %12.0f %12.0f %12.0f   (rows/s)\n", "", n / a, n / b, n / c }'
done
