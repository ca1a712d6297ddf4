//go:build race

package api

// raceDetector: the tests run under the race detector, which multiplies
// memory use (the server's peak RSS under TestServeBombs: ~375-410 MiB).
const raceDetector = true
