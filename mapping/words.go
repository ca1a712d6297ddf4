package mapping

import "encoding/json"

// jsonKind names what a JSON value is in plain words ("an object",
// "null"), for messages: never a Go type such as map[string]interface {}.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	case bool:
		return "true or false"
	}
	return "a value of another kind"
}
