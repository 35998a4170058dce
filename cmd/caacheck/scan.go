package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy"
	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/cmd/caacheck/internal/issuer"

	"github.com/miekg/dns"
)

// certReport is what caacheck -cert and -tls print: the certificate, its CA, and for each name
// whether that CA may issue for it again.
type certReport struct {
	Source  string       `json:"source"`
	Subject string       `json:"subject"`
	Issuer  string       `json:"issuer"`
	CA      issuer.CA    `json:"ca"`
	Mode    string       `json:"mode"`
	Checked string       `json:"checked"` // where CAA was read: a server, or a Corefile
	Names   []nameResult `json:"names"`
	Renew   bool         `json:"renew"` // every name may be issued again
	Hints   []string     `json:"hints,omitempty"`
}

// nameResult is the verdict for one name of a certificate, or of a zone.
type nameResult struct {
	Name              string   `json:"name"`
	CA                string   `json:"ca"`    // the identifier that decided: the one allowed, or the first tried
	Tried             []string `json:"tried"` // the identifiers tried
	Allowed           bool     `json:"allowed"`
	Owner             string   `json:"relevant_owner"`
	RRset             []string `json:"relevant_rrset"`
	AccountURI        bool     `json:"accounturi"`        // the deciding property binds an ACME account
	ValidationMethods bool     `json:"validationmethods"` // ... or validation methods
	Why               string   `json:"why,omitempty"`     // what stops the CA: lock-down, customer binding...
	Code              string   `json:"code"`              // caa.ReasonCode's name
	Reason            string   `json:"reason"`
	Error             string   `json:"error,omitempty"`
}

// scanCert reads a certificate (a PEM file or a TLS server's chain), identifies its CA, and
// checks every name in it against live DNS (-server) or a Corefile (-conf).
func scanCert(ctx context.Context, o options, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "caacheck: "+format+"\n", a...)
		return exitError
	}
	if (o.cert == "") == (o.tls == "") {
		return fail("give one of -cert FILE and -tls HOST:PORT")
	}
	if (o.conf == "") == (len(o.servers) == 0) || len(o.servers) > 1 {
		return fail("give either -conf Corefile (offline) or one -server HOST:PORT (live) to read CAA from")
	}
	var chain []*x509.Certificate
	var source string
	var err error
	if o.cert != "" {
		chain, err = readPEM(o.cert)
		source = o.cert
	} else {
		chain, err = fetchChain(o.tls, o.sni, o.timeout)
		source = "TLS " + o.tls
	}
	if err != nil {
		return fail("%v", err)
	}
	leaf := chain[0]
	var db *issuer.CCADB
	if o.ccadb != "" {
		f, err := os.Open(o.ccadb)
		if err != nil {
			return fail("%v", err)
		}
		db, err = issuer.ParseCCADB(f)
		f.Close()
		if err != nil {
			return fail("%v", err)
		}
	}
	var ca issuer.CA
	if len(o.cas) > 0 {
		ca = issuer.CA{Name: strings.Join(o.cas, ", "), Identifiers: o.cas, How: "named with -ca"}
	} else if ca, err = issuer.Identify(leaf, db); err != nil {
		return fail("%v", err)
	}
	lookup, checked, err := caaSource(o)
	if err != nil {
		return fail("%v", err)
	}
	rep := certReport{Source: source, Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), CA: ca, Checked: checked, Renew: true}
	mode, err := scanMode(o, ca.Identifiers)
	if err != nil {
		return fail("%v", err)
	}
	rep.Mode = mode.String()
	names := certNames(leaf)
	if len(names) == 0 {
		return fail("the certificate names no DNS name (no subjectAltName dNSName, no CN)")
	}
	var decisions []caa.Result
	for _, n := range names {
		r, res := judge(ctx, n, ca.Identifiers, mode, o, lookup)
		rep.Names = append(rep.Names, r)
		if !slices.ContainsFunc(decisions, func(d caa.Result) bool { return d.Owner == res.Owner }) {
			decisions = append(decisions, res) // one per Relevant RRset, for the hints
		}
		if !r.Allowed {
			rep.Renew = false
		}
	}
	rep.Hints = hints(decisions, ca.Identifiers)
	if o.json {
		printJSON(stdout, rep)
	} else {
		rep.text(stdout)
	}
	for _, r := range rep.Names {
		if r.Error != "" {
			return exitError
		}
	}
	if rep.Renew {
		return exitAllow
	}
	return exitDeny
}

// caaSource returns the climb's lookup: live over queries to the -server (each name asked once),
// or offline over the -conf Corefile's policy.
func caaSource(o options) (caa.Lookup, string, error) {
	if o.conf != "" {
		ps, err := caapolicy.LoadCorefile(o.conf)
		if err != nil {
			return nil, "", err
		}
		return caa.Memo(ps.Lookup), offlineSource(o.conf), nil
	}
	l := &caa.DNSLookup{Server: o.servers[0], Timeout: o.timeout}
	return caa.Memo(l.Lookup), "live, server " + o.servers[0], nil
}

// scanMode is -mode when given; otherwise Let's Encrypt's own reading for Let's Encrypt, which
// is how its renewal will be judged, and the RFC's for every other CA.
func scanMode(o options, ids []string) (caa.Mode, error) {
	if o.modeSet {
		return caa.ParseMode(o.mode)
	}
	if slices.Contains(ids, "letsencrypt.org") {
		return caa.ModeLetsEncrypt, nil
	}
	return caa.ModeRFC, nil
}

// judge decides whether any of the identifiers may issue for name (a wildcard stays one). The
// account and validation method are unknown, so a bound property counts as authorizing, and
// the result says whether one binds.
func judge(ctx context.Context, name string, ids []string, mode caa.Mode, o options, lookup caa.Lookup) (nameResult, caa.Result) {
	r := nameResult{Name: name, Tried: ids, RRset: []string{}}
	var first caa.Result
	for i, id := range ids {
		req := caa.Request{Name: name, CA: id, Mode: mode, Account: o.account, Method: o.method, AnyAccount: o.account == "" && o.method == ""}
		res := caa.Check(ctx, req, lookup)
		if i == 0 {
			first = res
		}
		if res.Allowed || i == 0 {
			r.CA, r.Allowed, r.Owner, r.Code, r.Reason = id, res.Allowed, res.Owner, res.Code.String(), res.Reason
			r.RRset = caaTexts(res.RRset)
			r.AccountURI, r.ValidationMethods = caa.Binding(res.Decision, id)
			r.Why = caa.Why(res.Decision, id)
			r.Error = ""
			if res.Err != nil {
				r.Error = res.Err.Error()
			}
			first = res
		}
		if res.Allowed {
			break
		}
	}
	return r, first
}

// hints are what a scan found worth knowing that does not stop issuance: names with no CAA at
// all, CAs authorized without an accounturi binding, and Relevant RRsets without iodef.
func hints(results []caa.Result, ids []string) []string {
	var out []string
	none, iodef := 0, 0
	unbound := map[string][]string{} // owner -> the CAs it authorizes without accounturi
	for _, res := range results {
		if res.Owner == "" && res.Err == nil {
			none++
			continue
		}
		has := false
		for _, rr := range res.RRset {
			if strings.EqualFold(rr.Tag, caa.TagIodef) {
				has = true
			}
			if !strings.EqualFold(rr.Tag, caa.TagIssue) && !strings.EqualFold(rr.Tag, caa.TagIssueWild) {
				continue
			}
			v, err := caa.ParseIssueValue(rr.Value)
			id := strings.ToLower(v.Issuer)
			if err == nil && slices.Contains(ids, id) && !slices.Contains(unbound[res.Owner], id) &&
				!slices.ContainsFunc(v.Params, func(p caa.Param) bool { return strings.EqualFold(p.Tag, "accounturi") }) {
				unbound[res.Owner] = append(unbound[res.Owner], id)
			}
		}
		if !has {
			iodef++
		}
	}
	if none > 0 {
		out = append(out, fmt.Sprintf("%d name(s) have no CAA record up to the zone: any CA may issue for them; publish issue records to say which", none))
	}
	if len(unbound) > 0 {
		owners := make([]string, 0, len(unbound))
		for o := range unbound {
			owners = append(owners, o)
		}
		slices.Sort(owners)
		var parts []string
		for _, o := range owners {
			parts = append(parts, o+" ("+strings.Join(unbound[o], ", ")+")")
		}
		out = append(out, fmt.Sprintf("authorized without accounturi, so any account at the CA may issue: %s; bind each to your account (RFC 8657), which every publicly trusted CA must honour from 2027-03-15 (ballot SC-098)", strings.Join(parts, ", ")))
	}
	if iodef > 0 {
		out = append(out, fmt.Sprintf("%d Relevant RRset(s) have no iodef: CAs cannot report refused requests to you; add iodef mailto:security@...", iodef))
	}
	return out
}

// text prints the certificate report for a person: the certificate and its CA, then one line a
// name: the verdict, the identifier, the Relevant RRset's owner and what binds it.
func (r certReport) text(w io.Writer) {
	fmt.Fprintf(w, "certificate %s (%s)\n", r.Subject, r.Source)
	fmt.Fprintf(w, "issued by   %s\n", r.Issuer)
	fmt.Fprintf(w, "CA          %s: %s\n", r.CA.Name, strings.Join(r.CA.Identifiers, ", "))
	fmt.Fprintf(w, "            identified by %s\n", r.CA.How)
	fmt.Fprintf(w, "checked     %s, mode %s\n", r.Checked, r.Mode)
	for _, n := range r.Names {
		fmt.Fprintln(w, n.line())
	}
	for _, h := range r.Hints {
		fmt.Fprintf(w, "hint:       %s\n", h)
	}
	if r.Renew {
		fmt.Fprintf(w, "RENEW      %s may issue again for every name\n", r.CA.Name)
	} else {
		fmt.Fprintf(w, "NO RENEWAL %s may not issue again for every name\n", r.CA.Name)
	}
}

// line is one name's verdict: NAME VERDICT CA relevant OWNER binding ...
func (n nameResult) line() string {
	verdict := "DENY "
	if n.Allowed {
		verdict = "ALLOW"
	}
	if n.Error != "" {
		return fmt.Sprintf("%-5s %-28s %-16s %s", "ERROR", n.Name, n.CA, n.Error)
	}
	owner := n.Owner
	if owner == "" {
		owner = "(none)"
	}
	var binds []string
	if n.AccountURI {
		binds = append(binds, "accounturi")
	}
	if n.ValidationMethods {
		binds = append(binds, "validationmethods")
	}
	bind := "binding none"
	if len(binds) > 0 {
		bind = "bound by " + strings.Join(binds, "+")
	}
	s := fmt.Sprintf("%s %-28s %-16s relevant %-24s %s", verdict, n.Name, n.CA, owner, bind)
	if n.Why != "" {
		s += " (" + n.Why + ")"
	}
	return s
}

// readPEM reads the certificates of a PEM file, leaf first.
func readPEM(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return out, nil
}

// fetchChain returns the certificates the TLS server at addr presents. They are read, never
// verified: a scan must see expired or untrusted certificates too.
func fetchChain(addr, sni string, timeout time.Duration) ([]*x509.Certificate, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-tls %q: %v; write HOST:PORT", addr, err)
	}
	if sni == "" && net.ParseIP(host) == nil {
		sni = host
	}
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) // #nosec: read, not trusted
	if err != nil {
		return nil, fmt.Errorf("-tls %s: %v", addr, err)
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, fmt.Errorf("-tls %s presented no certificate", addr)
	}
	return chain, nil
}

// certNames returns the DNS names of a certificate, lowercase, in its order: its dNSName
// subjectAltNames, or its Common Name when it has none.
func certNames(c *x509.Certificate) []string {
	names := c.DNSNames
	if len(names) == 0 && c.Subject.CommonName != "" && hostname(strings.TrimPrefix(strings.ToLower(c.Subject.CommonName), "*.")) {
		names = []string{c.Subject.CommonName}
	}
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// caaTexts is an RRset's properties as zone files write them: flags tag "value".
func caaTexts(rrs []dns.CAA) []string {
	out := []string{}
	for i := range rrs {
		out = append(out, caa.Text(&rrs[i]))
	}
	return out
}
