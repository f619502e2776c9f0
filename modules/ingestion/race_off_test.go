//go:build !race

package ingestion

// raceEnabled is true when the tests (and so the re-exec'd test binary acting as the
// extraction child) are built with the race detector, whose runtime needs memory of its own.
const raceEnabled = false
