// Package caa decides Certification Authority Authorization (CAA, RFC 8659, with the RFC 8657
// parameters accounturi and validationmethods) the way certificate authorities do. It imports no
// CoreDNS code: any Go program (an ACME client pre-checking a renewal, a scanner, a DNS server)
// can use it.
//
// It holds:
//   - the issue/issuewild value grammar of RFC 8659 section 4.2: [ParseIssueValue],
//     [IssueValue.String], and checks of single property values ([CheckTag], [CheckIodef],
//     [CheckAccountURI], [CheckValidationMethods]...);
//   - the evaluator: [Decide] on one Relevant RRset and [Check], the climb from a name towards
//     the root over any [Lookup] (live DNS, a zone file, a server's own data);
//   - the known CA identifiers with their sources ([IsKnownCA], [NearestCA]) and the ACME
//     validation methods ([KnownMethod]);
//   - [PropertyWarnings], the checks a policy linter runs on one property;
//   - dns-persist-01 validation records ([ParsePersistRecord], [DNSLookup.PersistRecords]) and
//     [CheckPersist], which finds the ones the name's CAA contradicts.
//
// # Two readings
//
// [ModeRFC] follows RFC 8659 and RFC 8657 to the letter. [ModeLetsEncrypt] reproduces Let's
// Encrypt's checker, Boulder v0.20260921.0, va/caa.go (filterCAA, validateCAA, parseCAARecord,
// caaDomainMatches, caaAccountURIMatches, caaValidationMethodMatches), branch for branch, as a
// differential test against Boulder's own code proves (caa/internal/boulderdiff, a module of its
// own):
//   - flag bit 1 counts as critical as well as bit 128;
//   - known tags are issue, issuewild, iodef, issuemail and issuevmc: a critical contactemail
//     or contactphone blocks issuance;
//   - the issuer must equal the CA's identifier byte for byte (no case folding, no trailing dot);
//   - a parameter tag holding anything but letters and digits (a hyphen, say) makes the whole
//     record unusable, and so does a parameter value with a space or control byte;
//   - an NXDOMAIN answer at a TLD is a failed lookup (bdns.LookupCAA), so nothing is issued
//     under a TLD that does not exist;
//   - parameter tags are case-sensitive (AccountURI is an unknown parameter);
//   - validationmethods labels are read in order: a malformed one denies, one that is not an
//     ACME method Boulder implements (a ca-tbr-N label, DNS-01 in uppercase) is skipped, and the
//     request's method allows, so a malformed label after the matching one goes unseen.
//
// Both modes agree that a property repeating accounturi or validationmethods is unsatisfiable
// (RFC 8657 section 5), and that an RRset with neither issue nor issuewild properties (iodef,
// contact or unknown tags only) does not restrict issuance, for wildcards too.
//
// ModeRFC stays stricter than Boulder on one point: a validationmethods list with a malformed
// label authorizes nobody, wherever the label stands, since RFC 8657 section 4 says "The value
// of the "validationmethods" parameter MUST comply with the following ABNF" (value =
// [*(label ",") label]) and a value outside the grammar is no valid binding.
//
// # CNAMEs
//
// [DNSLookup] follows CNAME chains of up to [MaxChain] (11) CNAMEs, past the 8 resolvers
// commonly allow: Boulder has no limit of its own and its resolver, Unbound, gives up after 11
// restarts. Where Boulder's verdict depends on its resolver, caa fails closed: a longer chain
// or a CNAME loop is a failed lookup and denies (Unbound answers SERVFAIL), even where the
// zone's own server answers NOERROR.
//
// # CA/Browser Forum ballot SC-098
//
// From 2027-03-15 every publicly trusted CA must honour accounturi and validationmethods.
// validationmethods may name a Baseline Requirements method by its section, ca-tbr-N for
// 3.2.2.4.N (lowercase is canonical), and a CA should treat a label and its ACME alias as the
// same method (BR 4.2.2.1.2). In ModeRFC labels compare after [CanonicalMethod]: lowercase, and
// ca-tbr-7, ca-tbr-19 and ca-tbr-20 read as dns-01, http-01 and tls-alpn-01, both ways. Boulder
// reads only ACME names, so in ModeLetsEncrypt a ca-tbr-N label matches nothing;
// [PropertyWarnings] says so.
//
// # Concurrency
//
// Functions may be called from many goroutines at once: they hold no shared mutable state
// ([NearestCA]'s memory is guarded by a mutex), and the package exports no variables. Each
// exported type says whether it is safe for concurrent use. The values they return are safe for
// concurrent reads; a [Result]'s records may be shared with the [Step] values of its Lookup (and
// with [Memo]'s memory), so copy them before changing them. A [DNSLookup] is safe for concurrent
// use; a Lookup returned by [Memo] is not: give each goroutine its own.
//
// # Contexts
//
// Every call that may wait on the network takes a context.Context first: [Check], [Relevant],
// [CheckPersist], each [Lookup] ([DNSLookup.Lookup] among them), [DNSLookup.PersistRecords] and
// DNSLookup.Exchange. A done context is a failed lookup: the climb stops and denies with
// [ReasonLookupFailed], and Result.Err wraps ctx.Err(), so errors.Is(res.Err, context.Canceled)
// tells a cancelled check from a failed one. Check and Relevant look at ctx before each lookup,
// so a Lookup over local data need not; one that waits must return once ctx is done, as
// DNSLookup does even where the server never answers. [Memo] remembers no answer given after its
// ctx was done. [Decide] and the value checks never wait and take no context.
package caa
