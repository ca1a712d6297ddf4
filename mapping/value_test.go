package mapping

import (
	"strings"
	"testing"
)

// TestValuesStoredAsWritten guards issue 16 points 10 to 13: values that
// were stored wrong instead of failing the row.
func TestValuesStoredAsWritten(t *testing.T) {
	web := func(field string) string {
		return "kind: web\nfields:\n  accounts_receivable_identifier: {number: {const: A}}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: {const: 2016-06-22T15:00:00}\n  website: {const: w}\n  " + field + "\n"
	}
	const notNumber = `ERR InvalidInputValueException line 2, column v (udf_float_1): value `
	tests := []struct {
		name, field, in, want string
	}{
		// Point 10: numbers.
		{"SAS missing is no zero", "udf_float_1: v", ".", notNumber + `".": is not a number (no digits`},
		{"minus point is no zero", "udf_float_1: v", "-.", notNumber + `"-.": is not a number (no digits`},
		{"a sign alone", "udf_float_1: v", "+", notNumber + `"+": is not a number (no digits`},
		{"two signs", "udf_float_1: v", "+-1", notNumber + `"+-1": is not a number`},
		{"two minus signs", "udf_float_1: v", "--1", notNumber + `"--1": is not a number`},
		{"two points", "udf_float_1: v", "1.2.3", notNumber + `"1.2.3": is not a number`},
		{"trailing point still a number", "udf_float_1: v", "5.", `"udf_float_1":5`},
		{"negative leading point", "udf_float_1: v", "-.5", `"udf_float_1":-0.5`},
		{"int overflows", `udf_string_1: {expr: "string(int(v) + 1)"}` + decimalV, "9223372036854775807", `ERR InvalidInputValueException line 2, expression string(int(v) + 1) (udf_string_1): expression "string(int(v) + 1)": v is 9223372036854776000 (a decimal): int(9.223372036854776e+18): too large for an exact integer`},
		{"int of a long column", `udf_string_1: {expr: "'ACR' + string(int(v))"}`, "12345678901234567890.0", `too large for an exact integer`},
		{"int of a string too large", `udf_string_1: {expr: "'ACR' + string(int('12345678901234567890.0'))"}`, "x", `int("12345678901234567890.0"): too large for an exact integer`},
		{"int of a string column wraps no more", `udf_string_1: {expr: "string(int(v) + 1)"}`, "9223372036854775807", `int("9223372036854775807"): too large for an exact integer`},
		{"int of a string", `udf_string_1: {expr: "'ACR' + string(int('17850.0'))"}`, "x", `"udf_string_1":"ACR17850"`},
		{"int truncates", `udf_string_1: {expr: "string(int(v))"}`, "-3.7", `"udf_string_1":"-3"`},
		{"round to hundreds", `udf_float_1: {expr: "round(v, -2)"}`, "1234.5", `"udf_float_1":1200`},
		{"round to tens, half away from zero", `udf_float_1: {expr: "round(v, -1)"}`, "-15", `"udf_float_1":-20`},
		{"round the decimal as written", `udf_float_1: {expr: "round(v, 2)"}`, "2.675", `"udf_float_1":2.68`},
		{"round digits must be whole", `udf_float_1: {expr: "round(v, 1.5)"}`, "2", `digits 1.5 is not a whole number`},
		// Point 11: exponents are written out.
		{"small exponent", "udf_float_1: v", "5e-3", `"udf_float_1":0.005`},
		{"exponent with fraction", "udf_float_1: v", "2.5e-1", `"udf_float_1":0.25`},
		{"positive exponent", "udf_float_1: v", "1.25E+3", `"udf_float_1":1250`},
		{"exponent keeps digits", "udf_float_1: v", "-1.000000000000000000001e2", `"udf_float_1":-100.0000000000000000001`},
		{"zero exponent", "udf_float_1: v", "7e0", `"udf_float_1":7`},
		{"huge exponent refused", "udf_float_1: v", "1e400", `is a number with more than 60 digits`},
		{"exponent without digits", "udf_float_1: v", "1e", notNumber + `"1e": is not a number`},
		// Point 12: expression results that are not scalars.
		{"list result", `udf_string_1: {expr: "[1, 2]"}`, "x", `(udf_string_1): expression "[1, 2]": the result is a list, not a single value`},
		{"map result", `udf_string_1: {expr: "{a: 1}"}`, "x", `(udf_string_1): expression "{a: 1}": the result is a map, not a single value`},
		{"infinite result", `udf_float_1: {expr: "v / 0"}` + decimalV, "1", `(udf_float_1): expression "v / 0": the result +Inf is not a finite number`},
		{"time result", `udf_date_1: {expr: "date('2016-06-22 15:04:05')"}`, "x", `"udf_date_1":"2016-06-22T15:04:05"`},
		{"time result into a string", `udf_string_1: {expr: "date('2016-06-22 15:04:05.123456')"}`, "x", `"udf_string_1":"2016-06-22T15:04:05"`},
		{"now is a date-time", `udf_string_1: {expr: "now()"}`, "x", `"udf_string_1":"20`},
		// Point 13: dates.
		{"year 0000", "udf_date_1: v", "0000-01-01", `value "0000-01-01": this date does not exist: there is no year 0000`},
		{"29 February of a common year", "udf_date_1: v", "2010-02-29", `value "2010-02-29": this date does not exist (day out of range)`},
		{"hour 24", "udf_date_1: v", "2010-02-28T24:00:00", `value "2010-02-28T24:00:00": this date does not exist (hour out of range)`},
		{"impossible date with a format", `udf_date_1: {column: v, format: "%d/%m/%Y"}`, "31/04/2010", `this date does not exist (day out of range)`},
		{"ISO date with a day-first format", `udf_date_1: {column: v, format: "%d/%m/%Y %H:%M"}`, "2011-12-09 08:39:00", `value "2011-12-09 08:39:00": does not match the format`},
		{"month name out of range", `udf_date_1: {column: v, format: "%d %b %Y"}`, "31 Apr 2010", `this date does not exist (day out of range)`},
		{"leap day exists", "udf_date_1: v", "2012-02-29", `"udf_date_1":"2012-02-29T00:00:00"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapRows(t, web(tt.field), []string{"v"}, tt.in)
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("map %q = %v\nwant it to contain %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-0", "-0"}, {"007.50", "7.50"}, {"1e3", "1000"}, {"1.5e1", "15"},
		{"123e-5", "0.00123"}, {"0.0e0", "0.0"}, {".5E+1", "5"}, {"-2.5e-1", "-0.25"},
		{"12345678901234567890.123456789", "12345678901234567890.123456789"},
		{".", ""}, {"-.", ""}, {"+-1", ""}, {"e5", ""}, {"1e+", ""}, {"1e-", ""}, {"0x10", ""}, {"1_000", ""}, {"", ""}, {"NaN", ""}, {"Inf", ""},
	}
	for _, tt := range tests {
		got, err := normalizeNumber(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("normalizeNumber(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeNumber(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}
