package cmd

import (
	"math/big"
	"strings"
)

// sumDecimals adds decimal literals exactly (big.Rat) and renders the sum
// with as many fraction digits as the longest addend, so 0.1 + 0.2 is 0.3.
func sumDecimals(vals []string) string {
	sum := new(big.Rat)
	scale := 0
	for _, v := range vals {
		r, ok := new(big.Rat).SetString(v)
		if !ok {
			return ""
		}
		sum.Add(sum, r)
		if i := strings.IndexByte(v, '.'); i >= 0 {
			scale = max(scale, len(v)-i-1)
		}
	}
	return sum.FloatString(scale)
}
