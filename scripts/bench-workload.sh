# The benchmark's workload (issue 11), shared by bench.sh (SQLite) and
# bench-postgres.sh (PostgreSQL), so that their figures compare: a 9-column
# purchases CSV, one product line a row, 20k seeded accounts, 200 products,
# a plain column mapping (no expressions).

# bench_reference DIR: reference data (units.yaml, accounts_receivable.csv,
# products.csv) and the mapping (mapping.yaml) in DIR.
bench_reference() {
  local work=$1
  {
    echo "number,name"
    awk 'BEGIN { for (i = 0; i < 20000; i++) printf "ACR%07d,Customer %d\n", i, i }'
  } > "$work/accounts_receivable.csv"
  {
    echo "code,alternative_code"
    awk 'BEGIN { for (i = 0; i < 200; i++) printf "SKU%03d,S%d\n", i, i }'
  } > "$work/products.csv"
  cat > "$work/units.yaml" <<'YAML'
currencies: [{code: GBP}]
units: [{name: Admin Unit, currency: GBP}]
YAML
  cp testdata/bench/mapping.yaml "$work/mapping.yaml"  # the caller runs from the repository
}

# bench_input N FILE: N purchases of one line each.
bench_input() {
  local n=$1 csv=$2
  awk -v n="$n" 'BEGIN {
    print "id,account,performed_on,reference,product,quantity,net,vat,total"
    for (i = 0; i < n; i++) {
      q = 1 + i % 7; p = 1 + i % 20; net = q * p; vat = net * 0.2
      printf "R%08d,ACR%07d,2024-%02d-%02dT%02d:%02d:00,INV%08d,SKU%03d,%d,%d.00,%.2f,%.2f\n",
        i, (i * 7919) % 20000, 1 + i % 12, 1 + i % 28, i % 24, i % 60, i, i % 200, q, net, vat, net + vat
    }
  }' > "$csv"
}
