// Package boulderdiff is a test-only module that proves package caa's ModeLetsEncrypt equal to
// Let's Encrypt's own CAA checker by running both on the same generated name trees.
//
// It is a module of its own (this directory's go.mod) so that the caapolicy module gains no
// dependency on Boulder; run it with
//
//	cd caa/internal/boulderdiff && go test ./...
//
// # What is called
//
// The Boulder side is github.com/letsencrypt/boulder at the version go.mod names, imported
// unmodified: a va.ValidationAuthorityImpl built by va.NewValidationAuthorityImpl, asked through
// its exported gRPC method DoCAA, the entry point Let's Encrypt's RA calls. DoCAA runs checkCAA,
// parallelCAALookup, filterCAA, selectCAA, validateCAA, parseCAARecord, caaDomainMatches,
// caaAccountURIMatches and caaValidationMethodMatches, all of va/caa.go, and looks records up
// through Boulder's own DNS client, bdns.New, over DNS-over-HTTPS as in production. The VA is a
// remote perspective, so DoCAA decides locally and asks no other perspective; every perspective
// runs the same code on the same answers.
//
// # What is stubbed: DNS only
//
// Two in-process servers answer from one generated name tree (owners with CAA RRsets, empty
// ones, CNAMEs, chains and loops, DNS wildcards synthesized as RFC 4592 says):
//   - a recursive resolver for Boulder (Let's Encrypt resolves through Unbound): it follows
//     CNAME chains to their end, answers SERVFAIL for a CNAME loop or a chain longer than
//     Unbound's restart limit (11), and NXDOMAIN with the SOA for names that do not exist;
//   - an authoritative server for caa's DNSLookup (as caacheck asks a zone's own server, such
//     as knotd): it follows chains inside its zone a few steps, stops at a loop with NOERROR, and
//     leaves the rest of a long chain for the client to ask for.
//
// Both read the same records, so a verdict can differ only where the deciding code differs.
// The verdict compared is whether issuance may go on: Boulder's answer without a problem
// against caa.Check's Allowed in ModeLetsEncrypt, for Let's Encrypt's identifier, one account
// URI and one validation method.
//
// Requests vary the name (wildcard or not, in any case, under a TLD that does not exist), the
// validation method, and the records: tags in any case, critical and stray flags, issuers valid
// and malformed, parameters repeated, empty, unknown, hyphenated, with spaces or without "=".
//
// TestBoulderCorpus runs a fixed corpus from a fixed seed (CI) and prints the smallest
// disagreement; FuzzBoulder draws name trees from fuzzer-chosen seeds for longer runs:
//
//	go test -run '^$' -fuzz FuzzBoulder -fuzztime 10m
package boulderdiff
