package boulderdiff

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// node is what one owner name holds: a CNAME or a CAA RRset (possibly empty).
type node struct {
	cname string
	caa   []dns.CAA
}

// world is one generated name tree and the question asked of it.
type world struct {
	nodes  map[string]*node // lowercase FQDN -> node
	name   string           // the certificate name asked for
	method string           // the ACME validation method
}

// zone is the TLD every generated name lies under; it always exists, as real TLDs do (Boulder
// refuses an NXDOMAIN at a TLD).
const zone = "t."

// exists reports whether n owns records or lies above a name that does (an empty non-terminal).
func (w *world) exists(n string) bool {
	if _, ok := w.nodes[n]; ok || n == zone {
		return true
	}
	for k := range w.nodes {
		if strings.HasSuffix(k, "."+n) {
			return true
		}
	}
	return false
}

// wildcard returns the node of the wildcard that synthesizes n, a name that does not exist: the
// "*" child of n's closest existing ancestor (RFC 4592).
func (w *world) wildcard(n string) (*node, bool) {
	for {
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil, false
		}
		n = n[i+1:]
		if w.exists(n) {
			wn, ok := w.nodes["*."+n]
			return wn, ok
		}
	}
}

// size orders failing cases: fewer and shorter records first.
func (w *world) size() int {
	s := len(w.name)
	for _, n := range w.nodes {
		s += 10 + len(n.cname)
		for _, rr := range n.caa {
			s += 10 + len(rr.Value)
		}
	}
	return s
}

func (w *world) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "request %s, method %s, account %s\n", w.name, w.method, account)
	var owners []string
	for k := range w.nodes {
		owners = append(owners, k)
	}
	sort.Strings(owners)
	for _, o := range owners {
		n := w.nodes[o]
		if n.cname != "" {
			fmt.Fprintf(&b, "  %s CNAME %s\n", o, n.cname)
			continue
		}
		if len(n.caa) == 0 {
			fmt.Fprintf(&b, "  %s (exists, no CAA)\n", o)
		}
		for _, rr := range n.caa {
			fmt.Fprintf(&b, "  %s CAA %d %s %q\n", o, rr.Flag, rr.Tag, rr.Value)
		}
	}
	return b.String()
}

const (
	accountPrefix = "https://acme-v02.api.letsencrypt.org/acme/acct/"
	accountID     = 123
	account       = accountPrefix + "123"
)

// tree is the set of owner names a world is built from; requests are asked at and below them.
var tree = []string{"t.", "s.t.", "y.s.t.", "x.s.t.", "shop.x.s.t.", "a.y.s.t.", "other.t.", "*.y.s.t.", "*.s.t."}

var requests = []string{"a.gone", "y.s.t", "a.y.s.t", "b.a.y.s.t", "shop.x.s.t", "s.t", "x.s.t", "new.y.s.t", "Y.S.t", "l0.t", "other.t"}

var methods = []string{"http-01", "dns-01", "tls-alpn-01", "dns-account-01", "dns-persist-01"}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// generate draws one world from r.
func generate(r *rand.Rand) *world {
	w := &world{nodes: map[string]*node{}, method: pick(r, methods)}
	w.name = pick(r, requests)
	if r.IntN(3) == 0 {
		w.name = "*." + w.name
	}
	targets := append([]string{"l0.t.", "nowhere.t.", "shop.x.s.t.", "y.s.t."}, tree...)
	for _, n := range tree {
		switch r.IntN(6) {
		case 0, 1: // nothing at n
		case 2:
			w.nodes[n] = &node{}
		case 3:
			if n != zone {
				w.nodes[n] = &node{cname: pick(r, targets)}
				break
			}
			fallthrough
		default:
			w.nodes[n] = &node{caa: rrset(r)}
		}
	}
	if r.IntN(4) == 0 {
		// A chain l0 -> l1 -> ... -> lk, ending at a CAA RRset, nothing, or back at l0; with the
		// CNAMEs to l0 it runs past the 11 CNAMEs Unbound follows.
		k := r.IntN(14)
		for i := range k {
			w.nodes[fmt.Sprintf("l%d.t.", i)] = &node{cname: fmt.Sprintf("l%d.t.", i+1)}
		}
		last := fmt.Sprintf("l%d.t.", k)
		switch r.IntN(3) {
		case 0:
			w.nodes[last] = &node{caa: rrset(r)}
		case 1:
			w.nodes[last] = &node{cname: pick(r, []string{"l0.t.", "y.s.t.", "s.t."})}
		}
	}
	return w
}

func rrset(r *rand.Rand) []dns.CAA {
	var out []dns.CAA
	for range 1 + r.IntN(4) {
		out = append(out, property(r))
	}
	return out
}

var (
	flags      = []uint8{0, 0, 0, 0, 128, 1, 2, 129, 64}
	tags       = []string{"issue", "issue", "issue", "issuewild", "issuewild", "ISSUE", "IssueWild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc", "foo", "tbs"}
	issuers    = []string{"letsencrypt.org", "letsencrypt.org", "letsencrypt.org", "ca.com", "", "LetsEncrypt.org", "letsencrypt.org.", " letsencrypt.org ", "\tletsencrypt.org", "lets encrypt.org", "https://letsencrypt.org", "-letsencrypt.org", "letsencrypt..org"}
	methodList = []string{"dns-01", "http-01", "tls-alpn-01", "dns-account-01", "dns-persist-01", "ca-tbr-7", "ca-tbr-19", "CA-TBR-20", "DNS-01", "HTTP-01", "", "bad_label", "x y", "ca-tbr-3-2-2-4-7"}
)

// property draws one CAA property: issue-like tags get a value from the issue-value grammar's
// corners, other tags a plain value.
func property(r *rand.Rand) dns.CAA {
	rr := dns.CAA{Flag: pick(r, flags), Tag: pick(r, tags)}
	switch strings.ToLower(rr.Tag) {
	case "issue", "issuewild":
		rr.Value = issueValue(r)
	case "iodef":
		rr.Value = "mailto:x@example.org"
	default:
		rr.Value = "x"
	}
	return rr
}

func issueValue(r *rand.Rand) string {
	if r.IntN(12) == 0 {
		return pick(r, []string{";", " ; ", "", "letsencrypt.org;", "letsencrypt.org; ", "letsencrypt.org;;", "letsencrypt.org; ;"})
	}
	v := pick(r, issuers)
	for range r.IntN(4) {
		v += pick(r, []string{";", "; ", " ;", " ; ", ";\t"}) + parameter(r)
	}
	return v
}

func parameter(r *rand.Rand) string {
	switch r.IntN(14) {
	case 0, 1:
		return "accounturi=" + account
	case 2:
		return "accounturi=" + accountPrefix + "321"
	case 3:
		return pick(r, []string{"accounturi=", "AccountURI=" + accountPrefix + "321", "account-uri=" + account, "accounturi=%zz"})
	case 4, 5, 6, 7:
		var ms []string
		for range 1 + r.IntN(3) {
			ms = append(ms, pick(r, methodList))
		}
		v := "validationmethods=" + strings.Join(ms, ",")
		if r.IntN(8) == 0 {
			v += ","
		}
		return v
	case 8:
		return pick(r, []string{"validationmethods=", "ValidationMethods=dns-01", " validationmethods = dns-01 ", "validation-methods=dns-01"})
	case 9:
		return pick(r, []string{"foo=bar", "a_b=1", "ab=1 2", "noequals", "x==y", "=v", ""})
	default:
		return pick(r, []string{"foo=bar", "policy=wildcard"})
	}
}
