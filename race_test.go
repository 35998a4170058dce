//go:build race

package caapolicy

// raceEnabled says the tests run under the race detector, which multiplies memory and time:
// the scale tests then build fewer zones.
const raceEnabled = true
