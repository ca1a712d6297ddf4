# The benchmark's workload, shared by bench.sh (SQLite) and
# bench-postgres.sh (PostgreSQL), so that their figures compare.

# bench_reference DIR: reference data (50k accounts, 500 products, one
# unit: units.yaml, accounts_receivable.csv, products.csv) and the mapping
# (mapping.yaml) in DIR.
bench_reference() {
  local work=$1
  {
    echo "number,name"
    awk 'BEGIN { for (i = 0; i < 50000; i++) printf "ACR%010d,Customer %d\n", 10000 + i, i }'
  } > "$work/accounts_receivable.csv"
  {
    echo "code,alternative_code"
    awk 'BEGIN { for (i = 0; i < 500; i++) printf "SKU%d,S%d\n", i, i }'
  } > "$work/products.csv"
  cat > "$work/units.yaml" <<'YAML'
currencies: [{code: GBP}]
units: [{name: Admin Unit, currency: GBP}]
YAML
  cat > "$work/mapping.yaml" <<'YAML'
kind: purchases
columns: { Quantity: decimal, UnitPrice: decimal }
request_id: InvoiceNo
group_by: InvoiceNo
call:
  intended_currency_identifier: { code: { const: GBP } }
fields:
  accounts_receivable_identifier: { number: { expr: '"ACR" + lpad(int(CustomerID), 10, "0")' } }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: { column: InvoiceDate, format: "%m/%d/%Y %H:%M" }
  reference_number: InvoiceNo
  udf_string_1: Country
products_set:
  product_identifier: { code: StockCode }
  quantity: Quantity
  total_amount: { expr: "round(Quantity * UnitPrice, 2)" }
  net_amount: { expr: "round(Quantity * UnitPrice / 1.2, 2)" }
  vat_amount: { expr: "round(Quantity * UnitPrice - Quantity * UnitPrice / 1.2, 2)" }
YAML
}

# bench_input N FILE: N purchase lines, three an invoice (Online Retail layout).
bench_input() {
  local n=$1 csv=$2
  {
    echo "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
      printf "%d,SKU%d,\"ITEM %d, BLUE\",%d,12/%d/2010 8:%02d,%d.%02d,%d.0,United Kingdom\n",
        500000 + int(i / 3), i % 500, i % 500, 1 + i % 7, 1 + i % 28, i % 60, 1 + i % 20, i % 100, 10000 + (i * 7919) % 50000 }'
  } > "$csv"
}
