//go:build !race

package api

// raceDetector: the tests run under the race detector (race_test.go).
const raceDetector = false
