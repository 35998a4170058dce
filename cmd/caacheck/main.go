// Command caacheck answers "may this CA issue a certificate for this name, and why?" the way a CA
// decides (RFC 8659, RFC 8657, or Let's Encrypt's reading): offline against the policy a
// Corefile declares, or live by climbing over real DNS queries to a server. With -lint it prints
// the start-up warnings of a Corefile without starting a server; -version prints its version.
//
// Exit status: 0 the CA may issue (or -lint found nothing), 1 it may not (or -lint warned),
// 2 the question could not be answered (bad flags, unreadable Corefile, unreachable server, or a
// delegation met on the climb: the answer is on name servers that were not asked), 3 the servers
// given (several -server, or -ns) disagree.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/caapolicy/caapolicy"
	"github.com/caapolicy/caapolicy/caa"
	// The plugins of cmd/coredns, in its plugin order: -conf reads a Corefile as that server does.
	_ "github.com/caapolicy/caapolicy/cmd/internal/plugins"
	"github.com/caapolicy/caapolicy/internal/version"

	"github.com/miekg/dns"
)

const (
	exitAllow  = 0
	exitDeny   = 1
	exitError  = 2
	exitDiffer = 3
)

func main() {
	clog.Discard() // the policy's warnings are printed by -lint, not by the parser's logger
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	conf, account, method, mode string
	cas, servers                serverList
	wildcard, lint, json, ns    bool
	version                     bool // -version: print the version and nothing else
	modeSet                     bool // -mode was given
	nsPort                      string
	timeout                     time.Duration

	cert, tls, sni, ccadb string // scanning a certificate (scan.go)
	zone, names           string // auditing a zone (zone.go)
}

// serverList is a flag that may be given several times: -server (HOST:PORT, port 53 added) and -ca.
type serverList []string

func (l *serverList) String() string { return strings.Join(*l, ",") }
func (l *serverList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// usage lists every form of the command, as the Synopsis of cmd/caacheck/README.md does.
const usage = `usage: caacheck -conf Corefile [-ca letsencrypt.org] [-wildcard] [-account URI] [-method dns-01] [-mode rfc|letsencrypt] [-json] NAME
       caacheck -server HOST:PORT [-server HOST:PORT...] [same flags] NAME
       caacheck -ns -server RESOLVER [-ns-port 53] [same flags] NAME
       caacheck -cert FILE | -tls HOST:PORT [-sni NAME] [-ccadb FILE] (-server HOST:PORT | -conf Corefile) [-json]
       caacheck -zone ZONE -server HOST:PORT [-names FILE] (-ca CA... | -conf Corefile) [-json]
       caacheck -lint -conf Corefile [-json]
       caacheck -version

flags:
`

// exitCodes closes the usage text: what the exit status says.
const exitCodes = `
exit status:
  0  the CA may issue (every name, for -cert, -tls and -zone), or -lint found nothing
  1  it may not (for at least one name), or -lint warned
  2  the question could not be answered: bad flags, unreadable Corefile, unreachable server,
     or a delegation met on the climb (the answer is on name servers that were not asked)
  3  the servers given (several -server, or -ns) disagree
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("caacheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.conf, "conf", "", "evaluate offline against the caapolicy blocks of this Corefile")
	fs.Var(&o.servers, "server", "evaluate live, querying this DNS server (HOST:PORT, port 53 if omitted); repeat it to compare servers")
	fs.BoolVar(&o.ns, "ns", false, "evaluate on every name server of the zone, found through the -server given")
	fs.StringVar(&o.nsPort, "ns-port", "53", "the port to ask the name servers -ns finds on")
	fs.Var(&o.cas, "ca", "the CA's issuer domain name, as CAA records name it (default letsencrypt.org); repeat it for -zone")
	fs.StringVar(&o.cert, "cert", "", "check whether the CA of this certificate (PEM, leaf first) may issue again for each of its names")
	fs.StringVar(&o.tls, "tls", "", "the same for the certificate the TLS server at HOST:PORT presents (read, never verified)")
	fs.StringVar(&o.sni, "sni", "", "the server name to send with -tls (default: the host)")
	fs.StringVar(&o.ccadb, "ccadb", "", "the CCADB CAA identifiers report (AllCAAIdentifiersReportCSVV2) that identifies the issuing CA")
	fs.StringVar(&o.zone, "zone", "", "audit every name of this zone (from AXFR, or -names) for the CAs given")
	fs.StringVar(&o.names, "names", "", "with -zone: the names to audit, one a line, when the server refuses AXFR")
	fs.BoolVar(&o.wildcard, "wildcard", false, "ask for a wildcard certificate (*.NAME)")
	fs.StringVar(&o.account, "account", "", "the ACME account URI the CA would issue under (RFC 8657 accounturi)")
	fs.StringVar(&o.method, "method", "", "the ACME validation method, such as dns-01 or http-01 (RFC 8657 validationmethods)")
	fs.StringVar(&o.mode, "mode", "rfc", "rfc (RFC 8659 and 8657) or letsencrypt (Let's Encrypt's reading)")
	fs.BoolVar(&o.lint, "lint", false, "print the start-up warnings of the Corefile given by -conf")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of text")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "time allowed for each live query")
	fs.BoolVar(&o.version, "version", false, "print caacheck's version and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, exitCodes)
	}
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if o.version {
		fmt.Fprintln(stdout, "caacheck", version.String())
		return exitAllow
	}
	fs.Visit(func(f *flag.Flag) { o.modeSet = o.modeSet || f.Name == "mode" })
	for i, s := range o.servers {
		o.servers[i] = caa.WithPort(s)
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "caacheck: "+format+"\n", a...)
		return exitError
	}
	if o.lint {
		if o.conf == "" || len(o.servers) > 0 || fs.NArg() != 0 {
			return fail("-lint takes -conf Corefile and nothing else")
		}
		return lint(o, stdout, stderr)
	}
	if o.cert != "" || o.tls != "" {
		if fs.NArg() != 0 {
			return fail("-cert and -tls check the names of the certificate; give no NAME")
		}
		return scanCert(ctx, o, stdout, stderr)
	}
	if o.zone != "" {
		if fs.NArg() != 0 {
			return fail("-zone audits every name of the zone; give no NAME")
		}
		return scanZone(ctx, o, stdout, stderr)
	}
	if fs.NArg() != 1 {
		return fail("give exactly one NAME to check, after the flags (caacheck -conf Corefile www.example.org)")
	}
	if len(o.cas) > 1 {
		return fail("give one -ca for a NAME; several -ca go with -zone")
	}
	if (o.conf == "") == (len(o.servers) == 0) {
		return fail("give either -conf Corefile (offline) or -server HOST:PORT (live)")
	}
	if o.ns && len(o.servers) != 1 {
		return fail("-ns finds the name servers through one -server (a resolver, or any server of the zone)")
	}
	mode, err := caa.ParseMode(o.mode)
	if err != nil {
		return fail("%v", err)
	}
	name := strings.ToLower(fs.Arg(0))
	if o.wildcard && !strings.HasPrefix(name, "*.") {
		name = "*." + name
	}
	if !hostname(strings.TrimSuffix(strings.TrimPrefix(name, "*."), ".")) {
		return fail("%q is not a domain name", fs.Arg(0))
	}
	ca, err := caIdentifier(o.cas, 0)
	if err != nil {
		return fail("%v", err)
	}
	req := caa.Request{Name: name, CA: ca, Account: o.account, Method: o.method, Mode: mode}

	if o.conf != "" {
		ps, err := caapolicy.LoadCorefile(o.conf)
		if err != nil {
			return fail("%v", err)
		}
		if !ps.Serves(strings.TrimPrefix(name, "*.")) {
			return fail("%s is in no zone of a caapolicy block in %s", dns.Fqdn(strings.TrimPrefix(name, "*.")), o.conf)
		}
		rep := newReport(req, caa.Check(ctx, req, ps.Lookup), offlineSource(o.conf))
		l := &caa.DNSLookup{Server: o.conf, Exchange: ps.Exchange}
		if rep.Persist, err = persistFindings(ctx, l, ps.Lookup, strings.TrimPrefix(name, "*."), mode, time.Now()); err != nil {
			return fail("%v", err)
		}
		return finish(rep, o.json, stdout)
	}
	servers := []string(o.servers)
	if o.ns {
		var err error
		if servers, err = nameServers(ctx, servers[0], name, o.nsPort, o.timeout); err != nil {
			return fail("%v", err)
		}
	}
	if len(servers) > 1 {
		return compare(ctx, req, servers, o, stdout, stderr)
	}
	rep, err := liveReport(ctx, req, servers[0], o.timeout)
	if err != nil {
		return fail("%v", err)
	}
	return finish(rep, o.json, stdout)
}

// caIdentifier returns the i-th -ca, letsencrypt.org when none was given, checked.
func caIdentifier(cas []string, i int) (string, error) {
	raw := "letsencrypt.org"
	if i < len(cas) {
		raw = cas[i]
	}
	ca := strings.ToLower(strings.TrimSuffix(raw, "."))
	if v, err := caa.ParseIssueValue(ca); err != nil || ca == "" || v.Issuer != ca {
		return "", fmt.Errorf("-ca %q is not a CA identifier such as letsencrypt.org", raw)
	}
	return ca, nil
}

// liveReport climbs over queries to server. The error is for a question that could not be
// asked: the server did not answer, or does not serve the name at all.
func liveReport(ctx context.Context, req caa.Request, server string, timeout time.Duration) (report, error) {
	l := &caa.DNSLookup{Server: server, Timeout: timeout}
	res := caa.Check(ctx, req, l.Lookup)
	var unreachable *caa.UnreachableError
	if errors.As(res.Err, &unreachable) {
		return report{}, res.Err
	}
	rep := newReport(req, res, "live, server "+server)
	if len(rep.Steps) == 0 && rep.Unchecked != "" && rep.Delegation == nil {
		return rep, fmt.Errorf("%s is not served by %s (it answers REFUSED)", dns.Fqdn(strings.TrimPrefix(req.Name, "*.")), server)
	}
	var err error
	rep.Persist, err = persistFindings(ctx, l, caa.Memo(l.Lookup), strings.TrimPrefix(req.Name, "*."), req.Mode, time.Now())
	return rep, err
}

// finish adds the notes on what was not checked, prints the report and returns the exit status.
func finish(rep report, asJSON bool, stdout io.Writer) int {
	code := rep.complete()
	rep.print(asJSON, stdout)
	return code
}

// complete adds the notes on what the climb did not check and returns the report's exit status.
func (r *report) complete() int {
	if r.Delegation != nil {
		// The answer lies on other name servers: report where, and decide nothing.
		r.Notes = append(r.Notes, r.Unchecked+" is "+r.Delegation.String()+"; those name servers were not asked: run caacheck -server against one of them")
		return exitError
	}
	if r.Unchecked != "" {
		r.Notes = append(r.Notes, r.Unchecked+" and its parents are not served here and were not checked; the CA will look there too")
	}
	if r.Allowed {
		return exitAllow
	}
	return exitDeny
}

// hostname reports whether s is a domain name a certificate can hold: dot-separated labels of
// letters, digits, hyphens and underscores, 1 to 63 bytes each, 253 in all.
func hostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if l == "" || len(l) > 63 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// offlineSource names the answers of -conf: the Corefile's server blocks, loaded and asked as
// CoreDNS would serve them (caapolicy.LoadCorefile).
func offlineSource(conf string) string { return "offline, the Corefile policy " + conf }

func lint(o options, stdout, stderr io.Writer) int {
	ps, err := caapolicy.LoadCorefile(o.conf)
	if err != nil {
		fmt.Fprintf(stderr, "caacheck: %v\n", err)
		return exitError
	}
	w, acked := ps.Warnings(), ps.Acknowledged()
	if o.json {
		if w == nil {
			w = []string{}
		}
		if acked == nil {
			acked = []string{}
		}
		json.NewEncoder(stdout).Encode(map[string][]string{"warnings": w, "acknowledged": acked})
	} else {
		for _, l := range w {
			fmt.Fprintln(stdout, l)
		}
		if len(w) == 0 {
			fmt.Fprintf(stdout, "%s: no warnings\n", o.conf)
		}
		if len(acked) > 0 {
			fmt.Fprintf(stdout, "%d warnings acknowledged as intended:\n", len(acked))
			for _, l := range acked {
				fmt.Fprintln(stdout, "  "+l)
			}
		}
	}
	if len(w) > 0 {
		return exitDeny
	}
	return exitAllow
}

// report is what caacheck prints, as text or JSON.
type report struct {
	Allowed   bool     `json:"allowed"`
	Name      string   `json:"name"`
	CA        string   `json:"ca"`
	Account   string   `json:"account,omitempty"`
	Method    string   `json:"method,omitempty"`
	Mode      string   `json:"mode"`
	Source    string   `json:"source"`
	Owner     string   `json:"relevant_owner"`
	RRset     []string `json:"relevant_rrset"`
	Decided   []string `json:"decided_by"`
	Code      string   `json:"code"` // caa.ReasonCode's name: why, for programs
	Reason    string   `json:"reason"`
	Steps     []step   `json:"climb"`
	Unchecked string   `json:"unchecked,omitempty"`
	// Delegation is the referral that stopped the climb: the answer is on those name servers.
	Delegation *caa.Delegation `json:"delegation,omitempty"`
	Notes      []string        `json:"notes,omitempty"`
	// Persist lists the dns-persist-01 records of the name that a CA would not honour.
	Persist []string `json:"persist_conflicts,omitempty"`
	Error   string   `json:"error,omitempty"`
}

type step struct {
	Name   string   `json:"name"`
	Rcode  string   `json:"rcode"`
	CNAMEs []string `json:"cnames,omitempty"`
	CAA    []string `json:"caa"`
}

func newReport(req caa.Request, res caa.Result, source string) report {
	r := report{
		Allowed: res.Allowed, Name: req.Name, CA: req.CA, Account: req.Account, Method: req.Method,
		Mode: req.Mode.String(), Source: source, Owner: res.Owner, Code: res.Code.String(), Reason: res.Reason,
		RRset: rrStrings(res.RRset), Decided: rrStrings(res.Decided), Unchecked: res.Unchecked, Steps: []step{},
		Delegation: res.Delegation,
	}
	if res.Err != nil {
		r.Error = res.Err.Error()
	}
	for _, s := range res.Steps {
		r.Steps = append(r.Steps, step{Name: s.Name, Rcode: dns.RcodeToString[s.Rcode], CNAMEs: s.CNAMEs, CAA: rrStrings(s.RRset)})
	}
	return r
}

func rrStrings(rrs []dns.CAA) []string {
	out := []string{}
	for i := range rrs {
		out = append(out, rrs[i].String())
	}
	return out
}

// printJSON writes v as one indented JSON object.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// print writes the report as indented JSON or as text.
func (r report) print(asJSON bool, w io.Writer) {
	if asJSON {
		printJSON(w, r)
		return
	}
	r.text(w)
}

// text prints the report for a person: the verdict first, then why.
func (r report) text(w io.Writer) {
	verdict := "ALLOW  " + r.CA + " may issue for " + r.Name
	switch {
	case r.Delegation != nil:
		verdict = "UNDECIDED " + r.Unchecked + " is delegated: its CAA records are on other name servers"
	case !r.Allowed:
		verdict = "DENY   " + r.CA + " may not issue for " + r.Name
	}
	fmt.Fprintf(w, "%s\n", verdict)
	fmt.Fprintf(w, "reason:   %s\n", r.Reason)
	if r.Owner != "" && len(r.RRset) > 0 {
		fmt.Fprintf(w, "relevant: %s\n", r.Owner)
		for _, rr := range r.RRset {
			fmt.Fprintf(w, "          %s\n", rr)
		}
	}
	if len(r.Decided) > 0 {
		fmt.Fprintf(w, "decided:\n")
		for _, rr := range r.Decided {
			fmt.Fprintf(w, "          %s\n", rr)
		}
	}
	fmt.Fprintf(w, "climb (%s, mode %s):\n", r.Source, r.Mode)
	for _, s := range r.Steps {
		found := fmt.Sprintf("%d CAA", len(s.CAA))
		if len(s.CAA) == 0 {
			found = "no CAA"
		}
		via := ""
		if len(s.CNAMEs) > 0 {
			via = " via CNAME " + strings.Join(s.CNAMEs, " -> ")
		}
		fmt.Fprintf(w, "          %-30s %-8s %s%s\n", s.Name, s.Rcode, found, via)
	}
	if d := r.Delegation; d != nil {
		fmt.Fprintf(w, "          %-30s %-8s referral to %s NS %s\n", r.Unchecked, "NOERROR", d.Zone, strings.Join(d.NS, " "))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note:     %s\n", n)
	}
	for _, p := range r.Persist {
		fmt.Fprintf(w, "persist:  %s\n", p)
	}
}
