package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy"
	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// zoneCA is one CA a zone audit checks: its identifier, and the account and method a partner
// entry binds it to.
type zoneCA struct {
	ID, Account, Method string
}

// zoneGroup is the names of a zone that share one Relevant RRset, and what each CA may do there.
type zoneGroup struct {
	Owner    string      `json:"relevant_owner"` // "" for names with no CAA up to the zone
	RRset    []string    `json:"relevant_rrset"`
	Names    []string    `json:"names"`
	Verdicts []caVerdict `json:"cas"`
}

type caVerdict struct {
	CA       string `json:"ca"`
	Names    bool   `json:"names"`     // may issue for the names
	Wildcard bool   `json:"wildcards"` // may issue for their wildcards
}

// blocked is a name (or its wildcard) where a CA may not issue, and why.
type blocked struct {
	Name   string `json:"name"`
	CA     string `json:"ca"`
	Why    string `json:"why"`
	Reason string `json:"reason"`
}

type zoneReport struct {
	Zone    string      `json:"zone"`
	Server  string      `json:"server"`
	From    string      `json:"names_from"`
	Count   int         `json:"names"`
	CAs     []string    `json:"cas"`
	Mode    string      `json:"mode"`
	Groups  []zoneGroup `json:"relevant_rrsets"`
	Blocked []blocked   `json:"blocked"`
	Hints   []string    `json:"hints,omitempty"`
	// Persist lists the dns-persist-01 records of the zone's names that a CA would not honour.
	Persist []string `json:"persist_conflicts"`
}

// scanZone audits a zone: every name of it (from AXFR, or -names) and its wildcard, for every CA
// given (-ca, or the partners of the -conf Corefile's block), grouped by Relevant RRset, with
// every name where a CA may not issue flagged and why. One query per distinct name: the
// answers are reused for the climbs.
func scanZone(ctx context.Context, o options, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "caacheck: "+format+"\n", a...)
		return exitError
	}
	if len(o.servers) != 1 {
		return fail("-zone needs one -server HOST:PORT, the name server to audit")
	}
	zone := dns.Fqdn(strings.ToLower(o.zone))
	if _, ok := dns.IsDomainName(zone); !ok {
		return fail("-zone %q is not a domain name", o.zone)
	}
	cas, err := zoneCAs(o, zone)
	if err != nil {
		return fail("%v", err)
	}
	names, from, err := zoneNames(o, zone)
	if err != nil {
		return fail("%v", err)
	}
	mode := caa.ModeRFC
	if o.modeSet {
		if mode, err = caa.ParseMode(o.mode); err != nil {
			return fail("%v", err)
		}
	}
	rep := zoneReport{Zone: zone, Server: o.servers[0], From: from, Count: len(names), Mode: mode.String(), Blocked: []blocked{}}
	for _, c := range cas {
		rep.CAs = append(rep.CAs, c.ID)
	}
	dl := &caa.DNSLookup{Server: o.servers[0], Timeout: o.timeout}
	lookup := caa.Memo(dl.Lookup)
	rep.Persist = []string{}
	groups := map[string]int{}
	var results []caa.Result
	for _, fq := range names {
		n := strings.TrimSuffix(fq, ".") // certificate names are written without the root's dot
		var g *zoneGroup
		for _, c := range cas {
			m := mode
			if !o.modeSet && c.ID == "letsencrypt.org" {
				m = caa.ModeLetsEncrypt // as Let's Encrypt will judge its renewals
			}
			var verdict [2]bool
			for i, name := range []string{n, "*." + n} {
				req := caa.Request{Name: name, CA: c.ID, Mode: m, Account: c.Account, Method: c.Method, AnyAccount: c.Account == "" && c.Method == ""}
				res := caa.Check(ctx, req, lookup)
				if res.Err != nil {
					return fail("%s: %v", name, res.Err)
				}
				if g == nil {
					key := res.Owner + "|" + strings.Join(caaTexts(res.RRset), "|")
					gi, ok := groups[key]
					if !ok {
						gi = len(rep.Groups)
						groups[key] = gi
						rep.Groups = append(rep.Groups, zoneGroup{Owner: res.Owner, RRset: caaTexts(res.RRset)})
						results = append(results, res)
					}
					rep.Groups[gi].Names = append(rep.Groups[gi].Names, n)
					g = &rep.Groups[gi]
				}
				verdict[i] = res.Allowed
				if !res.Allowed {
					rep.Blocked = append(rep.Blocked, blocked{Name: name, CA: c.ID, Why: caa.Why(res.Decision, c.ID), Reason: res.Reason})
				}
			}
			if len(g.Names) == 1 {
				g.Verdicts = append(g.Verdicts, caVerdict{CA: c.ID, Names: verdict[0], Wildcard: verdict[1]})
			}
		}
	}
	// Every name's dns-persist-01 records, judged in the audit's mode.
	for _, fq := range names {
		if strings.HasPrefix(fq, caa.PersistLabel+".") {
			continue // a validation record's own name, checked from the name it validates
		}
		found, err := persistFindings(ctx, dl, lookup, fq, mode, time.Now())
		if err != nil {
			return fail("%v", err)
		}
		rep.Persist = append(rep.Persist, found...)
	}
	ids := slices.Clone(rep.CAs)
	rep.Hints = hints(results, ids)
	if o.json {
		printJSON(stdout, rep)
	} else {
		rep.text(stdout)
	}
	if len(rep.Blocked) > 0 || len(rep.Persist) > 0 {
		return exitDeny
	}
	return exitAllow
}

// zoneCAs returns the CAs to audit for: each -ca, or the partners of the -conf block serving zone.
func zoneCAs(o options, zone string) ([]zoneCA, error) {
	if len(o.cas) > 0 {
		var out []zoneCA
		for i := range o.cas {
			id, err := caIdentifier(o.cas, i)
			if err != nil {
				return nil, err
			}
			out = append(out, zoneCA{ID: id})
		}
		return out, nil
	}
	if o.conf == "" {
		return nil, fmt.Errorf("-zone needs the CAs to check: -ca (repeated), or -conf Corefile for its partners")
	}
	ps, err := caapolicy.LoadCorefile(o.conf)
	if err != nil {
		return nil, err
	}
	var out []zoneCA
	for _, p := range ps.Partners(zone) {
		v, err := caa.ParseIssueValue(p)
		if err != nil {
			return nil, err
		}
		c := zoneCA{ID: v.Issuer}
		for _, prm := range v.Params {
			switch strings.ToLower(prm.Tag) {
			case "accounturi":
				c.Account = prm.Value
			case "validationmethods":
				c.Method, _, _ = strings.Cut(prm.Value, ",")
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no partners for %s; name the CAs with -ca", o.conf, zone)
	}
	return out, nil
}

// zoneNames returns the names of zone to audit: the owner names of an AXFR from the server
// (names at and below delegations left out: they are other zones'), or the lines of -names.
func zoneNames(o options, zone string) ([]string, string, error) {
	if o.names != "" {
		f, err := os.Open(o.names)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		var out []string
		for s := bufio.NewScanner(f); s.Scan(); {
			n := strings.TrimSpace(s.Text())
			if n == "" || strings.HasPrefix(n, "#") {
				continue
			}
			n = dns.Fqdn(strings.ToLower(n))
			if !dns.IsSubDomain(zone, n) {
				return nil, "", fmt.Errorf("%s: %s is not in zone %s", o.names, n, zone)
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		return out, o.names, nil
	}
	env, err := new(dns.Transfer).In(new(dns.Msg).SetAxfr(zone), o.servers[0])
	if err != nil {
		return nil, "", fmt.Errorf("AXFR of %s from %s: %v; give the names with -names FILE", zone, o.servers[0], err)
	}
	var out, cuts []string
	seen := map[string]bool{}
	for e := range env {
		if e.Error != nil {
			return nil, "", fmt.Errorf("AXFR of %s from %s: %v; give the names with -names FILE", zone, o.servers[0], e.Error)
		}
		for _, rr := range e.RR {
			n := strings.ToLower(rr.Header().Name)
			if rr.Header().Rrtype == dns.TypeNS && n != zone {
				cuts = append(cuts, n)
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	out = slices.DeleteFunc(out, func(n string) bool {
		return slices.ContainsFunc(cuts, func(c string) bool { return dns.IsSubDomain(c, n) }) || strings.HasPrefix(n, "*.")
	})
	return out, "AXFR", nil
}

// text prints the zone audit: the Relevant RRsets with the names they cover and what each CA may
// do there, then every blocked name.
func (r zoneReport) text(w io.Writer) {
	fmt.Fprintf(w, "zone %s on %s: %d names (%s), CAs %s, mode %s\n", r.Zone, r.Server, r.Count, r.From, strings.Join(r.CAs, " "), r.Mode)
	for _, g := range r.Groups {
		fmt.Fprintln(w)
		if g.Owner == "" {
			fmt.Fprintf(w, "no CAA up to the zone (%d names): any CA may issue\n", len(g.Names))
		} else {
			fmt.Fprintf(w, "relevant %s [%s] (%d names)\n", g.Owner, strings.Join(g.RRset, ", "), len(g.Names))
		}
		for _, v := range g.Verdicts {
			fmt.Fprintf(w, "  %-18s names %-5s wildcards %s\n", v.CA, allowDeny(v.Names), allowDeny(v.Wildcard))
		}
		fmt.Fprintf(w, "  names: %s\n", strings.Join(g.Names, " "))
	}
	fmt.Fprintln(w)
	for _, b := range r.Blocked {
		fmt.Fprintf(w, "BLOCKED %-28s %-18s %s: %s\n", b.Name, b.CA, b.Why, b.Reason)
	}
	for _, p := range r.Persist {
		fmt.Fprintf(w, "PERSIST %s\n", p)
	}
	for _, h := range r.Hints {
		fmt.Fprintf(w, "hint:   %s\n", h)
	}
	switch {
	case len(r.Blocked) == 0 && len(r.Persist) > 0:
		fmt.Fprintf(w, "%d dns-persist-01 records that CAs would not honour\n", len(r.Persist))
	case len(r.Blocked) == 0:
		fmt.Fprintf(w, "OK      every CA given may issue for every name and wildcard\n")
	default:
		fmt.Fprintf(w, "%d names or wildcards where a CA given may not issue: managed renewals there will fail\n", len(r.Blocked))
	}
}

func allowDeny(b bool) string {
	if b {
		return "ALLOW"
	}
	return "DENY"
}
