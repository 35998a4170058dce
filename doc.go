// Package caapolicy is a CoreDNS plugin that serves CAA records (RFC 8659, RFC 8657) from a
// declarative policy in the Corefile, merged with the CAA records the zone data already holds.
//
// The package is the plugin, and thin: its setup (setup.go), the handler (caapolicy.go), which
// answers from the block's served view and writes the reply, the watcher's and the metrics'
// wiring (record.go, metrics.go, metadata.go, answersource.go), transfers and NOTIFY
// (transfer.go), the cache hook (cache.go) and the offline loader of `caacheck -conf`
// (offline.go). Beneath it, and never importing it:
//
//   - internal/served is the served view: what CAA a block serves at a name and whether the
//     name exists, for answers, denials, transfers, the served serial, check events, lint and
//     `caacheck -conf` alike;
//   - internal/corefile reads and lints a caapolicy block;
//   - internal/watch watches the queries of CA checks;
//   - package caa, which imports no CoreDNS code, decides CAA as CAs do.
//
// Imports go one way, from this package to internal/ to caa (layout_test.go).
//
// README.md is the plugin's manual, and it states the rules the code relies on; a comment that
// implements one of them names the README section. Where each rule is stated, and where it is
// implemented today:
//
//   - The Corefile's syntax, zone blocks and acknowledge: README.md, "Syntax" and "Platforms"
//     (internal/corefile reads a block into a corefile.Block; served.New builds the records
//     from it).
//   - What is served at a name (policy owners, merging with the zone data, CNAMEs, delegations,
//     fallthrough): README.md, "Description" and "Syntax" (internal/served, answer.go).
//   - Negative answers never hide CAA (policy owners exist for every type, signed denials list
//     CAA, DS denials prove only real cuts): README.md, "Description" and "Bugs"; the rules for
//     each NSEC bitmap are in internal/served/denial.go's comment, and the flaw of stock dnssec,
//     with a patch, in docs/dnssec-ds-denial.md.
//   - Partner CAs, their presets and the six partner rules: README.md, "Partner CAs" and
//     "Syntax" (the rules in internal/served/partners.go; the presets, with their sources, in
//     internal/corefile/partners.go).
//   - Zone transfers, the served serial and NOTIFY: README.md, "Zone transfers and secondaries"
//     (internal/served, transfer.go and serial.go; NOTIFY in transfer.go here).
//   - The query log, check events, CA attribution, metrics and metadata: README.md, "Watching
//     CAA queries", "Metrics" and "Metadata" (the watcher, internal/watch; record.go hands it
//     each CAA query; metrics.go, metadata.go).
//   - Start-up errors and warnings: README.md, "Start-up warnings" (internal/corefile for what
//     the Corefile alone shows; internal/served, lint.go, for what needs the records built;
//     guards.go for what needs the plugin chain).
//   - The place in CoreDNS's plugin order: README.md, "Compiling caapolicy into CoreDNS"
//     (directive.go).
//   - Speed: README.md, "Performance"; each target and its measurement are in bench/README.md
//     and bench/dnsperf.sh.
//
// Package caa (caa/doc.go) decides CAA as CAs do, Let's Encrypt's reading included, and
// imports no CoreDNS code; cmd/caacheck (cmd/caacheck/README.md) is the command-line checker
// built on it.
package caapolicy
