//go:build !race

package caapolicy

// raceEnabled says the tests run under the race detector (race_test.go).
const raceEnabled = false
