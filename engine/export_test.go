package engine

// For the tests of package engine_test, which may import engine/api.
var (
	NearlyFullEngine = nearlyFullEngine
	BigWebRequest    = bigWebRequest
)
