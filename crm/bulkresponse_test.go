package crm

import (
	"encoding/json"
	"fmt"
	"reflect"

	"testing"
)

// okAnswer is an answer of engine serve to a bulk call: processed events,
// and unprocessed ones when failed is set.
func okAnswer(processed int, failed bool) []byte {
	r := Response[BulkResult]{Status: Status{Code: StatusOK}, Data: BulkResult{Unprocessed: []Unprocessed{}, Processed: []Processed{}}}
	for i := range processed {
		r.Data.Processed = append(r.Data.Processed, Processed{Number: fmt.Sprint(i + 1), ID: fmt.Sprintf("%032x", i), RequestUniqueIdentifier: fmt.Sprint("R", i)})
	}
	if failed {
		r.Data.Unprocessed = append(r.Data.Unprocessed, Unprocessed{ErrorCode: "NotFoundException",
			ErrorDescription: `Product <"P9"> & "café" not found`, RequestUniqueIdentifier: "R-é\u2028"})
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// TestDecodeBulkResponse: the answers of engine serve are read by the
// scanner, as encoding/json reads them; any answer it does not read
// exactly as encoding/json would is left to encoding/json.
func TestDecodeBulkResponse(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		fast       bool // read by decodeBulkResponse
	}{
		{"processed", string(okAnswer(3, false)), true},
		{"processed and unprocessed, escapes", string(okAnswer(2, true)), true},
		{"empty sets", `{"data":{"unprocessed_customer_events_set":[],"processed_customer_events_set":[]},"status":{"code":"OK","description":"","message":""}}`, true},
		{"status first, spaces", " {\"status\" : {\"code\":\"OK\"},\n \"data\":{\"processed_customer_events_set\":[{\"id\":\"x\"}]}}\n", true},
		{"no data", `{"status":{"code":"OK"}}`, true},
		{"an error answer", `{"data":null,"status":{"code":"InvalidTokenException","description":"d","message":"m"}}`, false},
		{"null set", `{"data":{"processed_customer_events_set":null},"status":{"code":"OK"}}`, false},
		{"null string", `{"data":{"processed_customer_events_set":[{"id":null}]},"status":{"code":"OK"}}`, false},
		{"a number", `{"data":{"processed_customer_events_set":[{"number":1}]},"status":{"code":"OK"}}`, false},
		{"name in another case", `{"data":{"processed_customer_events_set":[{"ID":"x"}]},"status":{"code":"OK"}}`, false},
		{"another member", `{"data":{"processed_customer_events_set":[],"total":3},"status":{"code":"OK"}}`, false},
		{"escaped name", `{"d\u0061ta":{},"status":{"code":"OK"}}`, false},
		{"duplicate name", `{"status":{"code":"Bad"},"status":{"code":"OK"}}`, false},
		{"duplicate status member", `{"status":{"code":"Bad","code":"OK"}}`, false},
		{"duplicate set", `{"data":{"processed_customer_events_set":[],"processed_customer_events_set":[{"id":"x"}]},"status":{"code":"OK"}}`, false},
		{"duplicate entry member", `{"data":{"processed_customer_events_set":[{"id":"x","id":"y"}]},"status":{"code":"OK"}}`, false},
		{"same member in two entries", `{"data":{"processed_customer_events_set":[{"id":"x"},{"id":"y"}],"unprocessed_customer_events_set":[{"error_code":"E"},{"error_code":"F"}]},"status":{"code":"OK"}}`, true},
		{"invalid UTF-8", "{\"status\":{\"code\":\"OK\",\"message\":\"\xff\"}}", false},
		{"data after the object", `{"status":{"code":"OK"}} {}`, false},
		{"truncated", string(okAnswer(3, false)[:40]), false},
		{"not an object", `[]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fast Response[BulkResult]
			got := decodeBulkResponse([]byte(tc.data), &fast)
			if got != tc.fast {
				t.Fatalf("decodeBulkResponse = %v, want %v", got, tc.fast)
			}
			if !got {
				if !reflect.DeepEqual(fast, Response[BulkResult]{}) {
					t.Errorf("out changed on refusal: %+v", fast)
				}
				return
			}
			var std Response[BulkResult]
			if err := json.Unmarshal([]byte(tc.data), &std); err != nil {
				t.Fatalf("encoding/json refuses what the scanner took: %v", err)
			}
			if !reflect.DeepEqual(fast, std) {
				t.Errorf("scanner:\n%+v\nencoding/json:\n%+v", fast, std)
			}
		})
	}
}

// FuzzDecodeBulkResponse: whatever decodeBulkResponse takes, encoding/json
// takes too and reads the same; what it refuses leaves out untouched.
func FuzzDecodeBulkResponse(f *testing.F) {
	f.Add(okAnswer(3, false))
	f.Add(okAnswer(1, true))
	f.Add([]byte(`{"status":{"code":"OK"},"data":{"processed_customer_events_set":[{"id":"\u00e9\ud83d\ude00"}],"unprocessed_customer_events_set":[]}}`))
	f.Add([]byte(`{"data":null,"status":{"code":"InvalidTokenException","description":"d","message":"m"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast Response[BulkResult]
		if !decodeBulkResponse(data, &fast) {
			if !reflect.DeepEqual(fast, Response[BulkResult]{}) {
				t.Fatalf("out changed on refusal: %+v", fast)
			}
			return
		}
		var std Response[BulkResult]
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("scanner took %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q:\nscanner       %+v\nencoding/json %+v", data, fast, std)
		}
	})
}

// BenchmarkDecodeBulkResponse: a 1000-event answer, by the scanner and
// by encoding/json.
func BenchmarkDecodeBulkResponse(b *testing.B) {
	data := okAnswer(MaxBulkEvents, false)
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var r Response[BulkResult]
			if !decodeBulkResponse(data, &r) || len(r.Data.Processed) != MaxBulkEvents {
				b.Fatal("not read")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var r Response[BulkResult]
			if err := json.Unmarshal(data, &r); err != nil || len(r.Data.Processed) != MaxBulkEvents {
				b.Fatal(err)
			}
		}
	})
}
