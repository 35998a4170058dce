// Package served answers "which CAA RRset does this caapolicy block serve at a name, and does the
// name exist": one View per block, built from its parsed policy (internal/corefile), its partner
// rules and the zone data of the plugins after it. Answering a CAA query (Serve), answers of
// other types that must not hide CAA (ServeOther), dns-persist-01 records (PersistAnswer), zone
// transfers (RewriteTransfer), the served serial, the lookups of check events (Lookup) and of
// start-up lint (PolicyLookup), and through the whole server chain `caacheck -conf`, all come
// from here, so offline and live cannot disagree.
//
// The rules, stated in README.md (Description, Syntax, Partner CAs, Platforms, Zone transfers
// and secondaries), as this package implements them:
//
//   - At a policy owner the CAA RRset is the policy, united in `zonedata merge` mode with the
//     zone data's CAA records there (a zone-data record whose tag the policy locks down is
//     withheld), then the partner records the RRset calls for (partners.go). Elsewhere in the
//     zones the zone data's answer passes, with partner records added to a CAA RRset it holds.
//   - A CNAME in the zone data wins over a policy at its owner; a chain to an in-zone target is
//     followed and ends at that target's served RRset. A delegation wins over a policy below it.
//     With `fallthrough`, a policy owner the zone data says does not exist stays NXDOMAIN.
//   - A policy owner, and every name between it and its zone's apex, exists for every type; signed
//     denials there list CAA in their NSEC (denial.go).
//   - Zone blocks give the names of one zone their own settings (scope.go); the most specific
//     zone block decides.
//   - The served serial is the zone data's plus the policy serial (serial.go).
//
// Serve and PersistAnswer build replies and write nothing: the plugin (the module root) writes
// each, counts it and hands it to the watcher (internal/watch). ServeOther and Pass hand the
// query on to the zone data, whose reply goes to the client (through ServeOther's writer where it
// may change it). Nothing here counts or logs queries.
package served
