package mapping

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/crmload/crmload/crm"
)

// normalizeNumber accepts what spreadsheets write for a decimal number
// (spaces, one leading sign, a leading or trailing point, leading zeros,
// an exponent) and returns the JSON literal of the exact same decimal,
// without an exponent: 1250.75 stays 1250.75, 5e-3 is 0.005. A sign or a
// point without digits (".", "-.", SAS and Stata's "missing") and a second
// sign ("+-1") are not numbers.
func normalizeNumber(s string) (string, error) {
	t := strings.TrimSpace(s)
	if crm.IsPlainNumber(t) {
		return t, nil // already the literal to send: most values
	}
	neg := false
	switch {
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	case strings.HasPrefix(t, "-"):
		neg, t = true, t[1:]
	}
	mant, exp := t, ""
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		mant, exp = t[:i], t[i+1:]
	}
	intPart, frac, hasPoint := strings.Cut(mant, ".")
	if intPart+frac == "" || !allDigits(intPart) || !allDigits(frac) || (hasPoint && strings.Contains(frac, ".")) {
		return "", notANumber(s)
	}
	e := 0
	if exp != "" || strings.ContainsAny(t, "eE") {
		ed := strings.TrimLeft(exp, "+-")
		if ed == "" || len(exp)-len(ed) > 1 || !allDigits(ed) { // one sign at most, then digits
			return "", notANumber(s)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(exp, "+"))
		if err != nil {
			return "", notANumber(s)
		}
		e = n
	}
	// Shift the point by the exponent, on the digits: nothing is rounded.
	digits := intPart + frac
	point := len(intPart) + e
	if point > crm.MaxPlainDigits || len(digits)-point > crm.MaxPlainDigits {
		return "", fmt.Errorf("is a number with more than %d digits once its exponent is written out", crm.MaxPlainDigits)
	}
	switch {
	case point <= 0:
		digits = strings.Repeat("0", 1-point) + digits
		point = 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	ip, fp := strings.TrimLeft(digits[:point], "0"), digits[point:]
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	if !crm.IsNumber(out) {
		return "", notANumber(s)
	}
	return out, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func notANumber(s string) error {
	switch t := strings.TrimSpace(s); {
	case strings.Contains(t, ",") && strings.Contains(t, "."):
		// 1,000.50: commas separate thousands (1.000,50 is taken below).
		if strings.LastIndex(t, ",") < strings.LastIndex(t, ".") {
			return fmt.Errorf("is not a number (commas separating thousands? use an expression such as num(replace(Col, \",\", \"\")))")
		}
		return fmt.Errorf("is not a number (a decimal comma, points separating thousands? use an expression such as num(replace(replace(Col, \".\", \"\"), \",\", \".\")))")
	case strings.Count(t, ",") > 1:
		return fmt.Errorf("is not a number (commas separating thousands? use an expression such as num(replace(Col, \",\", \"\")))")
	case strings.Contains(t, ","):
		return fmt.Errorf("is not a number (a decimal comma or thousands separator? use an expression such as num(replace(Col, \",\", \".\"))), or num(replace(Col, \",\", \"\")) for thousands)")
	case strings.Trim(t, "+-.") == "":
		return fmt.Errorf("is not a number (no digits: a missing value? leave the cell empty, or give the column a default)")
	}
	return fmt.Errorf("is not a number")
}

// roundDecimal rounds x to digits decimal places, half away from zero, as
// the decimal the user sees: x to fifteen significant digits (all that a
// float64 computation carries reliably, as formatResult prints results),
// then digit by digit, so round(2.675, 2) is 2.68 although the float is
// 2.67499..., and round(37.17 / 1.2, 2) is 30.98 although the quotient is
// 30.974999999999998. Digits below zero round to tens, hundreds, ...
// (round(1234.5, -2) is 1200). It runs for every row: strings, no big
// numbers. Most calls take roundFast's way; the rest, roundDigits'.
func roundDecimal(x float64, digits int) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) || x == 0 {
		return x
	}
	if r, ok := roundFast(x, digits); ok {
		return r
	}
	return roundDigits(x, digits)
}

// roundDigits is roundDecimal by the digits of x's decimal, for a finite
// x other than zero.
func roundDigits(x float64, digits int) float64 {
	if y, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 15, 64), 64); err == nil {
		x = y
	}
	s := strconv.FormatFloat(x, 'f', -1, 64)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	ip, frac, _ := strings.Cut(s, ".")
	var keep string // the digits kept, before the point moves back
	var next byte   // the first digit dropped
	zeros := 0      // zeros to append after keep
	switch {
	case digits >= 0 && len(frac) <= digits:
		return x
	case digits >= 0:
		keep, next = ip+frac[:digits], frac[digits]
	default:
		n := -digits
		if len(ip) <= n {
			ip = strings.Repeat("0", n+1-len(ip)) + ip
		}
		keep, next, zeros = ip[:len(ip)-n], ip[len(ip)-n], n
	}
	if next >= '5' {
		keep = incrementDigits(keep)
	}
	out := keep
	switch {
	case zeros > 0:
		out += strings.Repeat("0", zeros)
	case digits > 0:
		out = out[:len(out)-digits] + "." + out[len(out)-digits:]
	}
	f, err := strconv.ParseFloat(out, 64)
	if err != nil {
		return x
	}
	if neg {
		f = -f
	}
	return f
}

// roundFast is roundDecimal in floating point, for a number whose digit
// after the last one kept is clearly not the 5 of a tie: y, x moved
// digits places, is then rounded to an integer k as the decimal of x
// would be whatever its digits past the fifteenth, and k / 10^digits, a
// division of two exact floats, is the float nearest the decimal the
// string version parses. The decimal's error bound: x differs from its
// fifteen significant digits by up to 5e-15 of itself, and the product
// by 1.2e-16 more. ok is false where that does not decide it (a fraction
// within twice that bound of one half, an integer part past 2^52, digits
// outside the exact powers of ten). It takes 1/40th of the time of the
// strings (the sample purchases mapping's five rounds a product line were
// 12% of a load's CPU); FuzzRoundDecimal and TestRoundFastOnAmounts hold
// it to roundDigits.
func roundFast(x float64, digits int) (float64, bool) {
	if digits < 0 || digits >= len(exactPow10) {
		return 0, false
	}
	p := exactPow10[digits]
	y := math.Abs(x) * p
	if !(y < 1<<52) {
		return 0, false
	}
	k := math.Floor(y)
	switch f := y - k; {
	case math.Abs(f-0.5) <= 1e-14*y+1e-300:
		return 0, false
	case f > 0.5:
		k++
	}
	return math.Copysign(k/p, x), true
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// incrementDigits adds one to a string of decimal digits.
func incrementDigits(d string) string {
	b := []byte(d)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// maxExactInt is the largest integer a float64 holds together with every
// integer below it: beyond it, int() of a number would change its digits.
const maxExactInt = 1 << 53

// toInt is the expression int(): a number or a numeric string with its
// fraction cut off. An integer too large to be exact is an error, never a
// wrapped or rounded value (int("12345678901234567890.0") would otherwise
// be ACR-9223372036854775808 in an identifier).
func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) >= maxExactInt {
			return 0, fmt.Errorf("int(%v): too large for an exact integer (more than 15 digits: keep such a value as a string)", x)
		}
		return int(x), nil
	case string:
		t := strings.TrimPrefix(strings.TrimSpace(x), "+")
		if n, ok := smallInt(t); ok {
			return n, nil
		}
		r, ok := new(big.Rat).SetString(t)
		if !ok || t == "" || strings.ContainsAny(t, "/") {
			return 0, fmt.Errorf("int(%q): not a number", x)
		}
		n := new(big.Int).Quo(r.Num(), r.Denom()) // truncates toward zero
		// The same bound as a number's: a column is a string unless
		// declared, and int(Id) + 1 must not wrap past the int range.
		if n.CmpAbs(big.NewInt(maxExactInt)) >= 0 {
			return 0, fmt.Errorf("int(%q): too large for an exact integer (more than 15 digits: keep such a value as a string)", x)
		}
		return int(n.Int64()), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case nil:
		return 0, fmt.Errorf("int(): no value (an empty cell or a missing key) is not a number")
	}
	f, err := toFloat(v)
	if err != nil {
		return 0, err
	}
	return toInt(f)
}

// smallInt is toInt's fast path for the common id such as "17850.0": a
// plain decimal of at most 15 digits, whose float64 is near enough to the
// decimal that cutting its fraction cuts the decimal's.
func smallInt(t string) (int, bool) {
	digits := 0
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || (c == '-' && i == 0):
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, false
	}
	return int(f), true
}

// trimZeros drops the trailing zeros of a decimal's fraction (and a point
// left alone): 2.5500 is 2.55, 3.000 is 3.
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
