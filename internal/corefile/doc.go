// Package corefile reads one caapolicy block of a Corefile into a Block and lints it. Parse
// checks every line as it reads it and fails with the file:line of the line at fault, in
// CoreDNS's words ("Testfile:2 - Error during parsing: ..."); Lint and Acknowledge turn what is
// likely a mistake into "file:line: text" warnings (README.md, "Syntax", "Platforms" and
// "Start-up warnings", state the rules).
//
// A Block is the block as written, checked and completed (relative names made absolute, zone
// blocks given the block's settings where they write none), and nothing more: the plugin builds
// the records it serves from it, adds the partner records the partner rules call for and passes
// the served CAA back to Lint as a lookup. The package knows CoreDNS only through caddy's
// dispenser and the zone helpers of CoreDNS's plugin package; it never imports the plugin, and
// package caa decides what the values mean.
package corefile
