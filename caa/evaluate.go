package caa

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Mode selects whose reading of a CAA RRset the evaluator reproduces. A Mode is a plain value,
// safe for concurrent use.
type Mode uint8

const (
	// ModeRFC follows RFC 8659 and RFC 8657 to the letter.
	ModeRFC Mode = iota
	// ModeLetsEncrypt reproduces Let's Encrypt's CAA checker (Boulder, va/caa.go), which
	// differs from the RFCs where its code does: flag bit 1 counts as critical, contactemail and
	// contactphone are unknown tags, the issuer is matched byte for byte, parameter tags must be
	// letters and digits only (a hyphenated tag makes the whole property unusable) and are
	// case-sensitive, and a validationmethods list is read only up to the matching method. The
	// package documentation lists every difference.
	ModeLetsEncrypt
)

// ParseMode reads "rfc" or "letsencrypt".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "rfc":
		return ModeRFC, nil
	case "letsencrypt":
		return ModeLetsEncrypt, nil
	}
	return ModeRFC, fmt.Errorf("mode %q is neither rfc nor letsencrypt", s)
}

func (m Mode) String() string {
	switch m {
	case ModeRFC:
		return "rfc"
	case ModeLetsEncrypt:
		return "letsencrypt"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Validate returns an error for a Mode outside the enum; [Decide] denies and [Check] fails for
// such a mode rather than guess whose reading was meant.
func (m Mode) Validate() error {
	if m > ModeLetsEncrypt {
		return &ModeError{m}
	}
	return nil
}

// ModeError is a [Mode] value that is neither [ModeRFC] nor [ModeLetsEncrypt]. It is not changed
// once returned, so it is safe for concurrent use.
type ModeError struct{ Mode Mode }

func (e *ModeError) Error() string {
	return fmt.Sprintf("caa: mode %d is neither ModeRFC nor ModeLetsEncrypt", uint8(e.Mode))
}

// Request is one question to the evaluator: may CA issue a certificate for Name? It is a plain
// value that the evaluator only reads, so one Request is safe for concurrent checks.
type Request struct {
	Name    string // the certificate name; "*.example.org" asks for a wildcard certificate
	CA      string // the CA's issuer domain name, as in letsencrypt.org
	Account string // the ACME account URI the CA would issue under, for accounturi
	Method  string // the ACME validation method, for validationmethods (dns-01, http-01...)
	Mode    Mode
	// AnyAccount says the account and method are unknown, as for a CA seen checking CAA: a
	// property bound to an account or to methods counts as authorizing, since some may match.
	AnyAccount bool
}

// Wildcard reports whether the request is for a wildcard certificate.
func (r Request) Wildcard() bool { return strings.HasPrefix(r.Name, "*.") }

// Decision is the evaluator's answer for one Relevant RRset. Code and Decided say why in a form
// a program can act on; Reason says it in one line for people. It is safe for concurrent reads;
// RRset may share its records with the Lookup's [Step], so copy it before changing it.
type Decision struct {
	Allowed bool
	Owner   string     // owner name of the Relevant RRset, "" when there is none
	RRset   []dns.CAA  // the Relevant RRset
	Code    ReasonCode // why, as a code
	Decided []dns.CAA  // the records that decided, as Code describes them; empty where none did
	Reason  string     // one line
}

// ReasonCode says why a [Decision] went the way it did; 0 is a Decision this package did not make.
// A ReasonCode is a plain value, safe for concurrent use.
type ReasonCode uint8

const (
	// ReasonNoRRset: no CAA RRset from the name up to the root, so any CA may issue. Decided
	// is empty.
	ReasonNoRRset ReasonCode = iota + 1
	// ReasonParentsUnchecked: no CAA RRset up to a parent the source does not serve (or a
	// delegation); Result.Unchecked names it, and its CAA records decide. Decided is empty.
	ReasonParentsUnchecked
	// ReasonNoRelevantProperty: the Relevant RRset has no issue property (for a wildcard, no
	// issue or issuewild property), so any CA may issue. Decided is empty: RRset holds the
	// properties, none of which applies.
	ReasonNoRelevantProperty
	// ReasonAuthorized: the property in Decided authorizes the CA.
	ReasonAuthorized
	// ReasonCriticalTag: the critical property in Decided has a tag the CA does not know, so no
	// CA may issue.
	ReasonCriticalTag
	// ReasonNotAuthorized: none of the properties in Decided (those that apply to the request)
	// authorizes the CA.
	ReasonNotAuthorized
	// ReasonLookupFailed: a CAA lookup failed (Result.Err, the last of Result.Steps), so a CA
	// must not issue. Owner is the name whose lookup failed; Decided is empty.
	ReasonLookupFailed
	// ReasonInvalidMode: the request's Mode is outside the enum (see [Mode.Validate]), so the
	// evaluator denies. Decided is empty.
	ReasonInvalidMode
)

var reasonNames = [...]string{
	ReasonNoRRset:            "no-rrset",
	ReasonParentsUnchecked:   "parents-unchecked",
	ReasonNoRelevantProperty: "no-relevant-property",
	ReasonAuthorized:         "authorized",
	ReasonCriticalTag:        "critical-tag",
	ReasonNotAuthorized:      "not-authorized",
	ReasonLookupFailed:       "lookup-failed",
	ReasonInvalidMode:        "invalid-mode",
}

func (c ReasonCode) String() string {
	if int(c) < len(reasonNames) && reasonNames[c] != "" {
		return reasonNames[c]
	}
	return fmt.Sprintf("ReasonCode(%d)", uint8(c))
}

// knownTags are the property tags a CA knows, by mode: RFC 8659 section 4 with the CA/B Forum's
// contactemail, contactphone, issuemail and issuevmc; Boulder's filterCAA knows all but the
// two contact tags.
var knownTags = [...]map[string]bool{
	ModeRFC: {TagIssue: true, TagIssueWild: true, TagIodef: true, TagContactEmail: true, TagContactPhone: true, TagIssueMail: true, TagIssueVMC: true},
	// filterCAA: "We support the iodef property tag insofar as we recognize it", and likewise
	// issuemail and issuevmc ("do not bail out if someone has a critical issuemail tag"). Every
	// other tag with bit 128 or bit 1 set is a critical unknown.
	ModeLetsEncrypt: {TagIssue: true, TagIssueWild: true, TagIodef: true, TagIssueMail: true, TagIssueVMC: true},
}

// KnownTag reports whether the CA that mode reproduces knows tag, so that a critical property
// with it does not block issuance. A Mode outside the enum knows no tag.
func (m Mode) KnownTag(tag string) bool {
	return m.Validate() == nil && knownTags[m][strings.ToLower(tag)]
}

// critical reports whether a property's flags make it critical: bit 128 (RFC 8659 section 4.1),
// and for Let's Encrypt bit 1 too, which many operators set by mistake.
func (m Mode) critical(flag uint8) bool {
	if m == ModeLetsEncrypt {
		return flag&(128|1) != 0
	}
	return flag&128 != 0
}

// Decide applies RFC 8659 section 4 (and RFC 8657) to the Relevant RRset found at owner, which is
// empty when the climb found none.
func Decide(req Request, owner string, rrset []dns.CAA) Decision {
	d := Decision{Owner: owner, RRset: rrset}
	ca := req.CA
	if err := req.Mode.Validate(); err != nil {
		d.Code, d.Reason = ReasonInvalidMode, err.Error()+", so the evaluator cannot decide and denies"
		return d
	}
	if len(rrset) == 0 {
		d.Allowed, d.Owner, d.Code = true, "", ReasonNoRRset
		d.Reason = "no CAA records from " + ClimbStart(req.Name) + " up to the root, so any CA may issue"
		return d
	}
	for _, rr := range rrset {
		if req.Mode.critical(rr.Flag) && !knownTags[req.Mode][strings.ToLower(rr.Tag)] {
			d.Code, d.Decided = ReasonCriticalTag, []dns.CAA{rr}
			d.Reason = fmt.Sprintf("critical property %q at %s has a tag %s does not know, so no CA may issue", Text(&rr), owner, caName(req))
			return d
		}
	}
	wild := req.Wildcard()
	var issue, issuewild []dns.CAA
	for _, rr := range rrset {
		switch strings.ToLower(rr.Tag) {
		case TagIssue:
			issue = append(issue, rr)
		case TagIssueWild:
			issuewild = append(issuewild, rr)
		}
	}
	set, tag := issue, TagIssue
	if wild && len(issuewild) > 0 {
		set, tag = issuewild, TagIssueWild
	}
	if len(set) == 0 {
		d.Allowed, d.Code = true, ReasonNoRelevantProperty
		what := "issue properties"
		if wild {
			what = "issue or issuewild properties"
		}
		d.Reason = fmt.Sprintf("the CAA RRset at %s has no %s, so any CA may issue", owner, what)
		return d
	}
	var why []string
	for _, rr := range set {
		ok, reason := req.authorizes(rr.Value)
		if ok {
			d.Allowed, d.Code, d.Decided = true, ReasonAuthorized, []dns.CAA{rr}
			d.Reason = fmt.Sprintf("%s %q at %s authorizes %s", tag, rr.Value, owner, ca)
			return d
		}
		if reason != "" {
			why = append(why, fmt.Sprintf("%s %q %s", tag, rr.Value, reason))
		}
	}
	d.Code, d.Decided = ReasonNotAuthorized, set
	d.Reason = fmt.Sprintf("no %s property at %s authorizes %s", tag, owner, ca)
	if wild && tag == TagIssue {
		d.Reason = fmt.Sprintf("no issue property at %s authorizes %s (no issuewild there, so issue decides for wildcards)", owner, ca)
	}
	if len(why) > 0 {
		d.Reason += ": " + strings.Join(why, "; ")
	}
	return d
}

// authorizes reports whether one issue or issuewild value authorizes the request. When it does
// not, reason says why for a value that is malformed or that names the CA but binds it; values
// naming other CAs return no reason.
func (req Request) authorizes(value string) (bool, string) {
	if req.Mode == ModeLetsEncrypt {
		return req.authorizesLE(value)
	}
	v, err := ParseIssueValue(value)
	if err != nil {
		return false, "is malformed (" + err.Error() + ") and authorizes nobody"
	}
	if v.Issuer == "" {
		return false, ""
	}
	if !strings.EqualFold(v.Issuer, req.CA) {
		return false, ""
	}
	var accounts, methods []string
	for _, p := range v.Params {
		switch strings.ToLower(p.Tag) {
		case "accounturi":
			accounts = append(accounts, p.Value)
		case "validationmethods":
			methods = append(methods, p.Value)
		}
	}
	if len(accounts) > 1 || len(methods) > 1 {
		return false, "repeats a parameter, which makes it unsatisfiable (RFC 8657 section 5)"
	}
	if len(accounts) == 1 {
		if err := CheckAccountURI(accounts[0]); err != nil {
			return false, "has a malformed accounturi, which makes it unsatisfiable"
		}
		if reason := req.accountMismatch(accounts[0]); reason != "" {
			return false, reason
		}
	}
	if len(methods) == 1 {
		if CheckValidationMethods(methods[0]) != nil {
			return false, "has a malformed validationmethods list, which makes it unsatisfiable"
		}
		if reason := req.methodMismatch(methods[0]); reason != "" {
			return false, reason
		}
	}
	return true, ""
}

// authorizesLE is authorizes as Boulder's validateCAA reads a value: parseCAARecord, then
// caaDomainMatches, caaAccountURIMatches and caaValidationMethodMatches in that order.
func (req Request) authorizesLE(value string) (bool, string) {
	issuer, rest, _ := strings.Cut(value, ";")
	issuer = strings.Trim(issuer, " \t")
	var params []Param
	if strings.Trim(rest, " \t") != "" {
		for part := range strings.SplitSeq(rest, ";") {
			tag, val, ok := strings.Cut(part, "=")
			if !ok {
				return false, "is malformed for Let's Encrypt (a parameter is not tag=value) and authorizes nobody"
			}
			tag, val = strings.Trim(tag, " \t"), strings.Trim(val, " \t")
			for i := 0; i < len(tag); i++ {
				if !isAlnum(tag[i]) {
					return false, fmt.Sprintf("is ignored by Let's Encrypt: parameter tag %q holds %q, and Let's Encrypt accepts letters and digits only", tag, tag[i])
				}
			}
			for i := 0; i < len(val); i++ {
				if c := val[i]; c < 0x21 || c > 0x7e || c == ';' {
					return false, "is malformed for Let's Encrypt (a parameter value holds a space or control byte) and authorizes nobody"
				}
			}
			params = append(params, Param{Tag: tag, Value: val})
		}
	}
	if issuer != req.CA {
		if issuer != "" && strings.EqualFold(strings.TrimSuffix(issuer, "."), req.CA) {
			return false, fmt.Sprintf("names %s, but Let's Encrypt matches the issuer byte for byte against %q", issuer, req.CA)
		}
		return false, ""
	}
	// Parameter tags are matched case-sensitively: AccountURI is an unknown parameter.
	accounts, methods := paramValues(params, "accounturi"), paramValues(params, "validationmethods")
	if len(accounts) > 1 || len(methods) > 1 {
		return false, "repeats a parameter, which makes it unsatisfiable (RFC 8657 section 5)"
	}
	if len(accounts) == 1 {
		if _, err := url.Parse(accounts[0]); err != nil {
			return false, "has an accounturi Let's Encrypt cannot parse"
		}
		if reason := req.accountMismatch(accounts[0]); reason != "" {
			return false, reason
		}
	}
	if len(methods) == 1 {
		return req.methodMatchesLE(methods[0])
	}
	return true, ""
}

func paramValues(params []Param, tag string) []string {
	var out []string
	for _, p := range params {
		if p.Tag == tag {
			out = append(out, p.Value)
		}
	}
	return out
}

// methodMatchesLE reads a validationmethods list as caaValidationMethodMatches does: in order,
// a malformed label denies, a label that is no ACME method Boulder implements is skipped, and
// the request's method allows, so a malformed label after the matching one goes unseen.
func (req Request) methodMatchesLE(list string) (bool, string) {
	if !req.AnyAccount && req.Method == "" {
		return false, "allows only the validation methods " + list + " and no method was given"
	}
	for m := range strings.SplitSeq(list, ",") {
		if m == "" || strings.Trim(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return false, fmt.Sprintf("has a malformed validationmethods label %q before any that allows %s, which Let's Encrypt rejects", m, req.methodName())
		}
		if !slices.Contains(acmeMethods[:], m) {
			continue
		}
		if req.AnyAccount || m == req.Method {
			return true, ""
		}
	}
	return false, "allows only the validation methods " + list + ", not " + req.methodName()
}

func (req Request) methodName() string {
	if req.AnyAccount {
		return "any method Let's Encrypt implements"
	}
	return req.Method
}

func (req Request) accountMismatch(account string) string {
	switch {
	case req.AnyAccount:
	case req.Account == "":
		return "binds the account " + account + " and no account was given"
	case req.Account != account:
		return "binds another account (" + account + ")"
	}
	return ""
}

func (req Request) methodMismatch(list string) string {
	if req.AnyAccount {
		return ""
	}
	if req.Method == "" {
		return "allows only the validation methods " + list + " and no method was given"
	}
	for m := range strings.SplitSeq(list, ",") {
		if SameMethod(m, req.Method) {
			return ""
		}
	}
	return "allows only the validation methods " + list + ", not " + req.Method
}

func caName(req Request) string {
	if req.Mode == ModeLetsEncrypt {
		return "Let's Encrypt"
	}
	return "the CA"
}

// Text is a record's property as zone files write it: flags tag "value".
func Text(rr *dns.CAA) string { return string(AppendText(nil, rr)) }

// AppendText appends Text(rr) to b.
func AppendText(b []byte, rr *dns.CAA) []byte {
	b = strconv.AppendUint(b, uint64(rr.Flag), 10)
	b = append(append(append(b, ' '), rr.Tag...), ' ', '"')
	for i := 0; i < len(rr.Value); i++ {
		if rr.Value[i] == '"' {
			b = append(b, '\\')
		}
		b = append(b, rr.Value[i])
	}
	return append(b, '"')
}

// ClimbStart is the first name a CA looks up for a certificate name: the name itself, or for a
// wildcard its parent (RFC 8659 section 3).
func ClimbStart(name string) string {
	return dns.Fqdn(strings.TrimPrefix(name, "*."))
}

// AnswerRRset follows the CNAMEs of an answer from name and returns the CAA RRset where the
// chain ends, the aliases followed and that final name. A loop in the answer is followed once
// round: the last alias in cnames is then one met before (or name itself).
func AnswerRRset(answer []dns.RR, name string) (rrset []dns.CAA, cnames []string, target string) {
	target = name
	seen := map[string]bool{strings.ToLower(name): true}
	for range len(answer) {
		cn := CNAMEAt(answer, target)
		if cn == nil {
			break
		}
		cnames = append(cnames, cn.Target)
		target = cn.Target
		if seen[strings.ToLower(target)] {
			break
		}
		seen[strings.ToLower(target)] = true
	}
	for _, rr := range answer {
		if caa, ok := rr.(*dns.CAA); ok && strings.EqualFold(caa.Hdr.Name, target) {
			rrset = append(rrset, *caa)
		}
	}
	return rrset, cnames, target
}

// MaxCNAMEs bounds how many CNAMEs a server chases inside the zone data it serves for one
// answer; a client following chains ([DNSLookup]) is bounded by [MaxChain] instead.
const MaxCNAMEs = 8

// CNAMEAt returns the CNAME owned by n (in any case) in rrs, or nil.
func CNAMEAt(rrs []dns.RR, n string) *dns.CNAME {
	for _, rr := range rrs {
		if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, n) {
			return cn
		}
	}
	return nil
}

// Step is one lookup of the climb. It is safe for concurrent reads; [Memo] and [Check] hand on
// the Lookup's slices, so do not change them.
type Step struct {
	Name    string    // the name looked up
	Rcode   int       // the answer's response code
	CNAMEs  []string  // the aliases followed from Name, in order
	RRset   []dns.CAA // the CAA RRset the lookup ended at
	Outside bool      // the source does not serve Name: the climb stops, parents unchecked
	// Delegation is set when the source answered with a referral: Name lies in a zone cut
	// away to other name servers, whose CAA records the source cannot tell. The climb stops
	// there, as for Outside.
	Delegation *Delegation
}

// loop returns a [CNAMELoopError] when the step's aliases come back to a name met before, as
// [AnswerRRset] reports a loop inside an answer: whatever Lookup made the step, a loop is a
// failed lookup (a resolver answers SERVFAIL), never an empty RRset to climb past.
func (s Step) loop() error {
	seen := map[string]bool{strings.ToLower(s.Name): true}
	for _, c := range s.CNAMEs {
		if seen[strings.ToLower(c)] {
			return &CNAMELoopError{Name: s.Name, At: c}
		}
		seen[strings.ToLower(c)] = true
	}
	return nil
}

// Delegation is a referral met on the climb: the zone cut and the name servers it points to. It
// is safe for concurrent reads.
type Delegation struct {
	Zone string   `json:"zone"` // the owner of the NS records
	NS   []string `json:"ns"`   // the name servers, in the referral's order
}

func (d *Delegation) String() string {
	return fmt.Sprintf("delegated to %s (NS %s)", d.Zone, strings.Join(d.NS, ", "))
}

// Referral returns the delegation a DNS reply makes, or nil: a NOERROR reply without the AA bit
// and without answers, holding NS records in its authority section.
func Referral(m *dns.Msg) *Delegation {
	if m == nil || m.Rcode != dns.RcodeSuccess || m.Authoritative || len(m.Answer) > 0 {
		return nil
	}
	var d *Delegation
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			if d == nil {
				d = &Delegation{Zone: ns.Hdr.Name}
			}
			d.NS = append(d.NS, ns.Ns)
		}
	}
	return d
}

// Lookup answers the CAA lookup of one name for the climb. An error is a failed lookup, which
// stops the climb with a denial: a CA must not issue when it cannot tell (RFC 8659 section 3).
// ctx bounds the lookup: one that waits on the network gives up when ctx is done, with an error
// that wraps ctx.Err(). Whether a Lookup is safe for concurrent use is its maker's to say:
// [DNSLookup.Lookup] is, one returned by [Memo] is not.
type Lookup func(ctx context.Context, name string) (Step, error)

// Result is the outcome of a climb: the decision, each lookup made, and the name above which
// nothing was checked because the source does not serve it ("" when the climb reached the top).
// Like [Decision], it is safe for concurrent reads and shares its Steps' slices with the Lookup.
type Result struct {
	Decision
	Steps     []Step
	Unchecked string
	// Delegation is the referral that stopped the climb at Unchecked, if one did.
	Delegation *Delegation
	Err        error
}

// Relevant climbs from name (a wildcard's parent) towards the root like Check, and returns the
// Relevant RRset it finds, without deciding for any CA: Result.Owner and Result.RRset, the steps,
// and Unchecked, Delegation or Err where the climb stopped. Result.Code stays 0.
func Relevant(ctx context.Context, name string, lookup Lookup) Result {
	var res Result
	for n := ClimbStart(name); n != "."; n = ParentName(n) {
		s, err := lookupStep(ctx, lookup, n)
		if err == nil {
			err = s.loop()
		}
		if err != nil {
			res.Err, res.Owner = err, n
			res.Steps = append(res.Steps, s)
			return res
		}
		if s.Outside || s.Delegation != nil {
			res.Unchecked, res.Delegation = n, s.Delegation
			return res
		}
		res.Steps = append(res.Steps, s)
		if len(s.RRset) > 0 {
			res.Owner, res.RRset = n, s.RRset
			return res
		}
	}
	return res
}

// Check climbs from the request's name (a wildcard's parent) towards the root, not including
// it, and decides on the first non-empty CAA RRset (RFC 8659 section 3). Each lookup gets ctx;
// once ctx is done the climb stops as on a failed lookup, with Err wrapping ctx.Err().
func Check(ctx context.Context, req Request, lookup Lookup) Result {
	var res Result
	if err := req.Mode.Validate(); err != nil {
		res.Err, res.Decision = err, Decide(req, "", nil)
		return res
	}
	for n := ClimbStart(req.Name); n != "."; n = ParentName(n) {
		s, err := lookupStep(ctx, lookup, n)
		if err == nil {
			err = s.loop()
		}
		if err == nil && req.Mode == ModeLetsEncrypt && s.Rcode == dns.RcodeNameError && ParentName(n) == "." {
			// Boulder's bdns.LookupCAA reads NXDOMAIN as an empty RRset except at a TLD, "so we
			// don't issue for gTLDs that have been removed by ICANN".
			err = fmt.Errorf("the TLD %s does not exist (NXDOMAIN), and Let's Encrypt does not issue under it", n)
		}
		if err != nil {
			res.Err = err
			res.Steps = append(res.Steps, s)
			res.Decision = Decision{Owner: n, Code: ReasonLookupFailed, Reason: fmt.Sprintf("the CAA lookup of %s failed (%v), so a CA must not issue", n, err)}
			return res
		}
		if s.Outside || s.Delegation != nil {
			res.Unchecked, res.Delegation = n, s.Delegation
			break
		}
		res.Steps = append(res.Steps, s)
		if len(s.RRset) > 0 {
			res.Decision = Decide(req, n, s.RRset)
			return res
		}
	}
	res.Decision = Decide(req, "", nil)
	if res.Unchecked != "" {
		res.Code = ReasonParentsUnchecked
	}
	switch {
	case res.Delegation != nil:
		res.Reason = fmt.Sprintf("%s is %s, whose CAA records this source cannot see: ask those name servers", res.Unchecked, res.Delegation)
		if len(res.Steps) > 0 {
			res.Reason = fmt.Sprintf("no CAA records from %s up to %s; ", ClimbStart(req.Name), childOf(res.Steps)) + res.Reason
		}
	case res.Unchecked != "":
		res.Reason = fmt.Sprintf("no CAA records from %s up to %s; %s and above were not checked, so their CAA records decide", ClimbStart(req.Name), childOf(res.Steps), res.Unchecked)
	}
	return res
}

// lookupStep asks lookup for n unless ctx is done already, so that a climb over a Lookup that
// does not watch ctx (zone data, a map) stops with it too.
func lookupStep(ctx context.Context, lookup Lookup, n string) (Step, error) {
	if err := ctx.Err(); err != nil {
		return Step{Name: n}, fmt.Errorf("%s not looked up: %w", n, err)
	}
	return lookup(ctx, n)
}

func childOf(steps []Step) string {
	if len(steps) == 0 {
		return "there"
	}
	return steps[len(steps)-1].Name
}

// ParentName strips the first label of a fully qualified name; the parent of a TLD is ".".
func ParentName(n string) string {
	if i, end := dns.NextLabel(n, 0); !end {
		return n[i:]
	}
	return "."
}

// Binding says which RFC 8657 parameters the records that decided for the CA carry: an
// accounturi or a validationmethods parameter on a property naming it.
func Binding(d Decision, ca string) (accounturi, validationmethods bool) {
	for _, rr := range d.Decided {
		v, err := ParseIssueValue(rr.Value)
		if err != nil || !strings.EqualFold(v.Issuer, ca) {
			continue
		}
		for _, p := range v.Params {
			switch strings.ToLower(p.Tag) {
			case "accounturi":
				accounturi = true
			case "validationmethods":
				validationmethods = true
			}
		}
	}
	return accounturi, validationmethods
}

// Why names what stops a CA in a denial: "critical tag" (a critical property with a tag it does
// not know), "lock-down" (the properties that decide authorize nobody), "customer binding" (a
// property names the CA but binds it to an account or methods it may not meet), or "other CAs
// only". It returns "" for a decision that allows.
func Why(d Decision, ca string) string {
	switch {
	case d.Allowed:
		return ""
	case d.Code == ReasonCriticalTag:
		return "critical tag"
	}
	nobody := len(d.Decided) > 0
	for _, rr := range d.Decided {
		if !AuthorizesNobody(rr.Value) {
			nobody = false
		}
		if v, err := ParseIssueValue(rr.Value); err == nil && strings.EqualFold(v.Issuer, ca) {
			return "customer binding"
		}
	}
	if nobody {
		return "lock-down"
	}
	return "other CAs only"
}

// Memo returns a Lookup that asks lookup once per name (in any case) and answers again from
// memory: a scan of many names climbs through the same parents. An answer given after its ctx
// was done is not remembered, since the failure may be the context's and not the name's. The
// Lookup it returns is not safe for concurrent use, and the Steps it repeats share their slices.
func Memo(lookup Lookup) Lookup {
	type answer struct {
		s   Step
		err error
	}
	seen := map[string]answer{}
	return func(ctx context.Context, name string) (Step, error) {
		k := strings.ToLower(name)
		if a, ok := seen[k]; ok {
			return a.s, a.err
		}
		s, err := lookup(ctx, name)
		if ctx.Err() == nil {
			seen[k] = answer{s, err}
		}
		return s, err
	}
}
