#!/usr/bin/env bash
# End-to-end load benchmark: generates N purchase lines (Online Retail
# layout, three lines an invoice), loads them with crmload into a fresh
# embedded store, loads them again over loopback HTTP into `crmload engine
# serve` (the remote path), and in the same run imports the same CSV with
# `sqlite3 .import` (raw ingest, no validation: the floor). Prints rows/s,
# the crmload/sqlite3 time ratio, the remote/embedded throughput ratio and
# crmload's peak RSS for each N.
#
#   scripts/bench.sh [N ...]        default: 100000 1000000
#   scripts/bench.sh --db postgres [N ...]   the PostgreSQL store (scripts/bench-postgres.sh)
#
# Needs: go, sqlite3, GNU time (/usr/bin/time). Works in a temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--db" ]; then
  [ "${2:-}" = postgres ] || { echo "bench.sh: --db takes postgres (the default store is SQLite)" >&2; exit 2; }
  shift 2
  exec scripts/bench-postgres.sh "$@"
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
command -v sqlite3 >/dev/null || { echo "bench.sh: needs the sqlite3 shell (apt-get install sqlite3)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench.sh: needs GNU time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/crmload" .

. scripts/bench-workload.sh
bench_reference "$work"

printf "%-9s %10s %10s %10s %8s %11s %8s %11s %8s\n" rows crmload_s sqlite3_s remote_s ratio rows_per_s remote% rss_MiB failed
for n in "${sizes[@]}"; do
  csv="$work/purchases-$n.csv"
  bench_input "$n" "$csv"

  db="$work/bench-$n.db"
  rm -f "$db"*
  "$work/crmload" --db "$db" engine seed "$work/units.yaml" "$work/accounts_receivable.csv" "$work/products.csv" >/dev/null
  /usr/bin/time -f "%e %M" -o "$work/time" "$work/crmload" --db "$db" load --quiet --report-dir "$work/reports" \
    -m "$work/mapping.yaml" "$csv" || true
  read -r crm_s rss_kb < "$work/time"
  failed=$(grep -o '"rows_failed": [0-9]*' "$work"/reports/*/summary.json | tail -1 | awk '{print $2}')
  rm -rf "$work/reports"

  # The remote path: the same load over loopback into engine serve.
  sdb="$work/served-$n.db"
  rm -f "$sdb"* "$work/url"
  "$work/crmload" --db "$sdb" engine seed "$work/units.yaml" "$work/accounts_receivable.csv" "$work/products.csv" >/dev/null
  "$work/crmload" --db "$sdb" engine serve --addr 127.0.0.1:0 --url-file "$work/url" --user bench:bench --organisation B 2>/dev/null &
  server=$!
  for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
  /usr/bin/time -f "%e" -o "$work/time3" env CRMLOAD_PASSWORD=bench "$work/crmload" load --quiet --report-dir "$work/reports" \
    --engine "$(cat "$work/url")" --username bench --organisation B -m "$work/mapping.yaml" "$csv" || true
  read -r rem_s < "$work/time3"
  kill -INT "$server"; wait "$server" || true
  rm -rf "$work/reports"

  rm -f "$work/import.db"
  /usr/bin/time -f "%e" -o "$work/time2" sqlite3 "$work/import.db" ".mode csv" ".import $csv purchases"
  read -r sql_s < "$work/time2"

  awk -v n="$n" -v c="$crm_s" -v s="$sql_s" -v m="$rem_s" -v r="$rss_kb" -v f="$failed" 'BEGIN {
    printf "%-9d %10.2f %10.2f %10.2f %8.2f %11.0f %7.0f%% %11.1f %8s\n", n, c, s, m, (s > 0 ? c / s : 0), (c > 0 ? n / c : 0), (m > 0 ? 100 * c / m : 0), r / 1024, f }'
done
