package loader

import "encoding/json"

var json1250 = json.Number("1250.75")
