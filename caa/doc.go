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
//   - [PropertyWarnings], the checks a policy linter runs on one property.
//
// # Two readings
//
// [ModeRFC] follows RFC 8659 and RFC 8657 to the letter. [ModeLetsEncrypt] reproduces Let's
// Encrypt's checker, Boulder v0.20260921.0, va/caa.go (filterCAA, validateCAA, parseCAARecord,
// caaDomainMatches, caaAccountURIMatches, caaValidationMethodMatches), branch for branch:
//   - flag bit 1 counts as critical as well as bit 128;
//   - known tags are issue, issuewild, iodef, issuemail and issuevmc: a critical contactemail
//     or contactphone blocks issuance;
//   - the issuer must equal the CA's identifier byte for byte (no case folding, no trailing dot);
//   - a parameter tag holding anything but letters and digits (a hyphen, say) makes the whole
//     record unusable, and so does a parameter value with a space or control byte;
//   - parameter tags are case-sensitive, and a repeated parameter replaces the earlier one
//     (RFC 8657 section 5 makes such a record unsatisfiable);
//   - a wildcard request against an RRset with neither issue nor issuewild properties is refused
//     (validateCAA returns early only for names that are not wildcards).
//
// The table of named cases in evaluate_test.go follows Boulder's own TestCAAChecking.
//
// # CA/Browser Forum ballot SC-098
//
// From 2027-03-15 every publicly trusted CA must honour accounturi and validationmethods, and
// validationmethods may name non-ACME methods with labels that start "ca-tbr-". Such a label is
// accepted by [CheckValidationMethods] and [KnownMethod] and matches only itself.
package caa
