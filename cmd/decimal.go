package cmd

import (
	"math/big"
	"strconv"
	"strings"
)

// sumDecimals adds decimal literals exactly (big.Rat) and renders the sum
// with as many fraction digits as the longest addend, so 0.1 + 0.2 is 0.3
// and 5e-3 is 0.005.
func sumDecimals(vals []string) string {
	sum := new(big.Rat)
	scale := 0
	for _, v := range vals {
		r, ok := new(big.Rat).SetString(v)
		if !ok {
			return ""
		}
		sum.Add(sum, r)
		scale = max(scale, fractionDigits(v))
	}
	return sum.FloatString(scale)
}

// fractionDigits is how many digits a decimal literal has after the point
// once its exponent is written out: 2.50 has 2, 2.5e-1 has 2, 5e-3 has 3,
// 1.5e3 none.
func fractionDigits(v string) int {
	mant, exp := v, 0
	if i := strings.IndexAny(v, "eE"); i >= 0 {
		mant = v[:i]
		exp, _ = strconv.Atoi(strings.TrimPrefix(v[i+1:], "+"))
	}
	n := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		n = len(mant) - i - 1
	}
	return max(n-exp, 0)
}
