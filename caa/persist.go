package caa

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dns-persist-01 (draft-ietf-acme-dns-persist-02, "ACME Challenge for Persistent DNS TXT Record
// Validation") lets a domain authorize one ACME account of one CA once, with a TXT record at
// _validation-persist.<name> whose RDATA is an issue-value (RFC 8659 section 4.2):
//
//	_validation-persist.example.org. TXT "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard; persistUntil=1767225600"
//
// accounturi is required and compared byte for byte; policy=wildcard (value case-insensitive)
// extends the authorization to wildcard certificates and subdomains; persistUntil is a UNIX time
// after which the record validates nothing new; unknown parameters are ignored. A CA still checks
// CAA before issuing: a persistent authorization that the name's CAA does not allow (another CA,
// another account, validationmethods without dns-persist-01, an issuewild that forbids the
// wildcard) is a contradiction, which [CheckPersist] finds.

// PersistLabel is the label prepended to a name for its dns-persist-01 validation records.
const PersistLabel = "_validation-persist"

// MethodPersist is the ACME validation method name of dns-persist-01.
const MethodPersist = "dns-persist-01"

// PersistRecord is one dns-persist-01 validation record. It is a plain value, safe for
// concurrent use.
type PersistRecord struct {
	Name       string    // the validated name, fully qualified (the owner without PersistLabel)
	Issuer     string    // the CA's issuer domain name
	AccountURI string    // the ACME account the record authorizes
	Wildcard   bool      // policy=wildcard: wildcard certificates and subdomains too
	Until      time.Time // persistUntil; zero when there is none
	Text       string    // the TXT RDATA as published
}

// PersistName returns the owner of the validation records of name: _validation-persist.name.
func PersistName(name string) string { return PersistLabel + "." + dns.Fqdn(name) }

// ParsePersistRecord parses the TXT RDATA txt published for the validated name. A record that a
// CA would reject (no issuer, no accounturi, a malformed persistUntil) is an error.
func ParsePersistRecord(name, txt string) (PersistRecord, error) {
	r := PersistRecord{Name: dns.Fqdn(name), Text: txt}
	v, err := ParseIssueValue(txt)
	if err != nil {
		return r, fmt.Errorf("dns-persist-01 record %q: %w", txt, err)
	}
	if v.Issuer == "" {
		return r, fmt.Errorf("dns-persist-01 record %q names no CA", txt)
	}
	r.Issuer = v.Issuer
	accounts := 0
	for _, p := range v.Params {
		switch {
		case p.Tag == "accounturi":
			r.AccountURI = p.Value
			accounts++
		case strings.EqualFold(p.Tag, "policy"):
			r.Wildcard = strings.EqualFold(p.Value, "wildcard")
		case p.Tag == "persistUntil":
			sec, err := strconv.ParseInt(p.Value, 10, 64)
			if err != nil {
				return r, fmt.Errorf("dns-persist-01 record %q: persistUntil %q is not a UNIX time in seconds, so CAs reject the record", txt, p.Value)
			}
			r.Until = time.Unix(sec, 0).UTC()
		}
	}
	if accounts != 1 {
		return r, fmt.Errorf("dns-persist-01 record %q must carry exactly one accounturi, so CAs reject it", txt)
	}
	return r, nil
}

// PersistConflict is a persistent authorization that CAA contradicts: a CA would not issue under
// it, whatever the record says. Like [Result], it is safe for concurrent reads.
type PersistConflict struct {
	Record   PersistRecord
	Wildcard bool   // the conflict is for the wildcard certificate (policy=wildcard)
	Result   Result // CAA's verdict for the record's CA and account, with dns-persist-01
	Reason   string // one line
}

// CheckPersist checks rec against CAA as the CA would before issuing: the record's CA, its
// account and the method dns-persist-01, for the validated name and, with policy=wildcard, for
// its wildcard, climbing over lookup with ctx as [Check] does. It returns each contradiction; a
// lookup failure is one too (a CA does not issue on it).
func CheckPersist(ctx context.Context, rec PersistRecord, mode Mode, lookup Lookup) []PersistConflict {
	var out []PersistConflict
	names := []string{strings.TrimSuffix(rec.Name, ".")}
	if rec.Wildcard {
		names = append(names, "*."+names[0])
	}
	for _, n := range names {
		req := Request{Name: n, CA: rec.Issuer, Account: rec.AccountURI, Method: MethodPersist, Mode: mode}
		res := Check(ctx, req, lookup)
		if res.Allowed && res.Err == nil {
			continue
		}
		c := PersistConflict{Record: rec, Wildcard: strings.HasPrefix(n, "*."), Result: res}
		c.Reason = fmt.Sprintf("%s persists an authorization of %s (account %s) for %s, but CAA does not allow it: %s", PersistName(rec.Name), rec.Issuer, rec.AccountURI, n, res.Reason)
		out = append(out, c)
	}
	return out
}

// PersistRecords asks the server for the dns-persist-01 records of name (TXT at
// _validation-persist.name, CNAMEs followed within the answer) and parses each. Records a CA
// would reject come back as errors beside the others; an answer other than NOERROR or
// NXDOMAIN is an error.
func (l *DNSLookup) PersistRecords(ctx context.Context, name string) ([]PersistRecord, []error, error) {
	q := PersistName(name)
	r, err := l.queryType(ctx, q, dns.TypeTXT)
	if err != nil {
		return nil, nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, nil, fmt.Errorf("%s answers %s for %s TXT", l.Server, dns.RcodeToString[r.Rcode], q)
	}
	var recs []PersistRecord
	var bad []error
	for _, rr := range r.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		rec, err := ParsePersistRecord(name, strings.Join(txt.Txt, ""))
		if err != nil {
			bad = append(bad, err)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad, nil
}
