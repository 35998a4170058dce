package caa_test

import (
	"context"
	"fmt"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// An ACME client pre-checks a wildcard renewal against the Relevant RRset it found, as Let's
// Encrypt would read it.
func ExampleDecide() {
	rrset := []dns.CAA{
		{Flag: 0, Tag: "issue", Value: "letsencrypt.org"},
		{Flag: 0, Tag: "issuewild", Value: "sectigo.com"},
	}
	for _, name := range []string{"www.example.org", "*.example.org"} {
		d := caa.Decide(caa.Request{Name: name, CA: "letsencrypt.org", Mode: caa.ModeLetsEncrypt}, "example.org.", rrset)
		fmt.Println(name, d.Allowed, d.Reason)
	}
	// Output:
	// www.example.org true issue "letsencrypt.org" at example.org. authorizes letsencrypt.org
	// *.example.org false no issuewild property at example.org. authorizes letsencrypt.org
}

// Check climbs from the name towards the root over any lookup: here a map stands for DNS.
func ExampleCheck() {
	zone := map[string][]dns.CAA{
		"example.org.": {{Tag: "issue", Value: "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1"}},
	}
	lookup := func(_ context.Context, name string) (caa.Step, error) {
		return caa.Step{Name: name, RRset: zone[name]}, nil
	}
	req := caa.Request{Name: "shop.example.org", CA: "letsencrypt.org", Account: "https://acme-v02.api.letsencrypt.org/acme/acct/2"}
	res := caa.Check(context.Background(), req, lookup)
	fmt.Println(res.Allowed, res.Owner, len(res.Steps))
	fmt.Println(res.Reason)
	// Output:
	// false example.org. 2
	// no issue property at example.org. authorizes letsencrypt.org: issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1" binds another account (https://acme-v02.api.letsencrypt.org/acme/acct/1)
}

func ExampleParseIssueValue() {
	v, err := caa.ParseIssueValue("letsencrypt.org; validationmethods=dns-01")
	fmt.Println(v.Issuer, v.Params, err)
	_, err = caa.ParseIssueValue("<script>alert(1)</script>")
	fmt.Println(err != nil, caa.AuthorizesNobody("<script>alert(1)</script>"))
	// Output:
	// letsencrypt.org [{validationmethods dns-01}] <nil>
	// true true
}

func ExamplePropertyWarnings() {
	for _, w := range caa.PropertyWarnings(0, "issue", "letsencrypt.com; validationmethods=http01", "example.org.") {
		fmt.Println(w)
	}
	// Output:
	// issue letsencrypt.com is not a known CA identifier; did you mean letsencrypt.org? A misspelt identifier locks the CA out
	// issue validationmethods "http01" is not an ACME validation method, so no CA validates with it; did you mean http-01?
}
