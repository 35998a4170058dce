package caapolicy

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// presets name lists of partner CAs. A preset is a name for a list, never logic.
var presets = map[string][]string{
	// Cloudflare's Universal SSL certificate authorities: the records Cloudflare adds, as listed
	// in "Add CAA records", developers.cloudflare.com/ssl/edge-certificates/caa-records/
	// (last updated 2026-04-21).
	"cloudflare": {"pki.goog; cansignhttpexchanges=yes", "letsencrypt.org", "ssl.com", "sectigo.com"},
	// AWS Certificate Manager, "(Optional) Configure a CAA record",
	// docs.aws.amazon.com/acm/latest/userguide/setup-caa.html: any one of amazon.com,
	// amazontrust.com, awstrust.com or amazonaws.com lets ACM issue; amazon.com is the one listed first.
	"aws": {"amazon.com"},
	// Google-managed certificates (Cloud Load Balancing, Certificate Manager), which Google
	// obtains from Google Trust Services (pki.goog) and, where that CA cannot issue, from Let's
	// Encrypt: "How Certificate Manager works",
	// cloud.google.com/certificate-manager/docs/how-it-works, and the CAA section of "Use
	// Google-managed SSL certificates",
	// cloud.google.com/load-balancing/docs/ssl-certificates/google-managed-certs#caa.
	"google": {"pki.goog", "letsencrypt.org"},
}

// trigger says which CAA RRsets get partner records.
type trigger uint8

const (
	// triggerRestrictive adds partners only to what an RRset already restricts: issue C where
	// issue properties exist, issuewild C where issuewild properties exist.
	triggerRestrictive trigger = iota
	// triggerAny adds issue C at every owner with a CAA RRset, as Cloudflare does.
	triggerAny
)

// partner is one partner CA: its identifier and the issue value written for it.
type partner struct {
	issuer string // lowercase, no trailing dot
	value  string // "issuer[; key=value...]"
	pos    string
}

// partnerSet is the partner configuration of a caapolicy block.
type partnerSet struct {
	list    []partner
	trigger trigger
	cache   *additionsCache // the additions for RRsets met at query time; nil at setup
}

// caaKind summarizes the issue or the issuewild properties of an RRset.
type caaKind struct {
	present    bool
	authorizes bool             // some property names an issuer: not a lock-down
	malformed  []string         // values that do not match the grammar, which authorize nobody
	values     map[string]ownCA // issuer -> the customer's property for it
}

// ownCA is what the customer's own properties say of one CA.
type ownCA struct {
	// exact: a property without parameters names the CA byte for byte as the partner list does.
	// Let's Encrypt matches issuers case-sensitively, so only that one surely authorizes it.
	exact bool
	// bound is the first property for the CA (in any case) with parameters, as written, and
	// canonical the same in the form partner values take.
	bound, canonical string
}

func (k *caaKind) add(value string) {
	k.present = true
	v, err := caa.ParseIssueValue(value)
	if err != nil {
		// RFC 8659 section 4.2: a value that does not match the grammar is read as an empty
		// issuer, so it authorizes nobody, exactly as ";" does.
		k.malformed = append(k.malformed, value)
		return
	}
	if v.Issuer == "" {
		return
	}
	k.authorizes = true
	if k.values == nil {
		k.values = map[string]ownCA{}
	}
	issuer := strings.TrimSuffix(strings.ToLower(v.Issuer), ".")
	own := k.values[issuer]
	switch {
	case len(v.Params) == 0:
		own.exact = own.exact || v.Issuer == issuer
	case own.bound == "":
		own.bound = value
		v.Issuer = issuer
		own.canonical = v.String()
	}
	k.values[issuer] = own
}

// partnerNotes says why partner certificates may fail at an owner; zero means nothing to report.
type partnerNotes struct {
	lockIssue, lockWild bool
	malformed           []string // "tag value" of malformed values that made a lock-down
	bound               []string // "ca: customer value" for partners the customer's own property binds
	restricts           bool     // trigger any turned an unrestricted RRset into a restricted one
}

func (n partnerNotes) any() bool { return n.lockIssue || n.lockWild || len(n.bound) > 0 || n.restricts }

// lockText describes the properties of a lock-down, naming malformed values read as ";".
func (n partnerNotes) lockText(tag string) string {
	var bad []string
	for _, m := range n.malformed {
		if t, v, _ := strings.Cut(m, " "); t == tag {
			bad = append(bad, strconv.Quote(v))
		}
	}
	if len(bad) == 0 {
		return fmt.Sprintf(`only empty issuers, %s ";"`, tag)
	}
	return fmt.Sprintf(`only issuers that authorize nobody: %s %s is malformed and read as ";" (RFC 8659 section 4.2)`, tag, strings.Join(bad, ", "))
}

// String is the warning text for n.
func (n partnerNotes) String() string {
	var parts []string
	if n.lockIssue {
		parts = append(parts, "issue is locked down ("+n.lockText(caa.TagIssue)+"), so no partner may issue there")
	}
	if n.lockWild {
		parts = append(parts, "issuewild is locked down ("+n.lockText(caa.TagIssueWild)+"), so no partner may issue wildcard certificates there")
	}
	for _, b := range n.bound {
		parts = append(parts, "the customer's own property binds partner "+b+", so partner certificates must satisfy it")
	}
	if n.restricts {
		parts = append(parts, "trigger any turns an unrestricted RRset into one that only the listed CAs and the partners may use")
	}
	return strings.Join(parts, "; ")
}

// additions returns the partner records to add to the CAA RRset rrset, following the partner
// rules of README.md ("Partner CAs", numbered as the Rule comments below), and what stops
// partner certificates there. Headers are left for the caller.
func (ps *partnerSet) additions(rrset []dns.CAA) ([]dns.CAA, partnerNotes) {
	var notes partnerNotes
	if len(ps.list) == 0 || len(rrset) == 0 {
		return nil, notes
	}
	var issue, wild caaKind
	for i := range rrset {
		switch strings.ToLower(rrset[i].Tag) {
		case caa.TagIssue:
			issue.add(rrset[i].Value)
		case caa.TagIssueWild:
			wild.add(rrset[i].Value)
		}
	}
	// Rule 1: the restrictive trigger leaves RRsets that restrict nothing (iodef, contacts,
	// unknown tags) as they are: any CA, partners included, may issue there already.
	if ps.trigger == triggerRestrictive && !issue.present && !wild.present {
		return nil, notes
	}

	var add []dns.CAA
	for _, k := range []struct {
		tag  string
		kind *caaKind
		lock *bool
	}{{caa.TagIssue, &issue, &notes.lockIssue}, {caa.TagIssueWild, &wild, &notes.lockWild}} {
		switch {
		case k.tag == caa.TagIssueWild && !k.kind.present:
			// Rule 2: without issuewild properties wildcards fall back to issue, which now holds the partners.
			continue
		case k.tag == caa.TagIssue && !k.kind.present && ps.trigger == triggerRestrictive:
			// Non-wildcard issuance is unrestricted here: an issue record would restrict it.
			continue
		case k.kind.present && !k.kind.authorizes:
			// Rule 4: a lock-down stays locked, whether its values are ";" or malformed.
			*k.lock = true
			for _, m := range k.kind.malformed {
				notes.malformed = append(notes.malformed, k.tag+" "+m)
			}
			continue
		}
		for _, p := range ps.list {
			own := k.kind.values[p.issuer]
			switch {
			case own.exact:
				// Rule 2: the customer authorizes this CA already, without conditions.
				continue
			case own.bound != "":
				// Rule 3: the customer's parameters bind this CA; no broader record beside them.
				if own.canonical != p.value {
					notes.bound = append(notes.bound, fmt.Sprintf("%s (%s %q)", p.issuer, k.tag, own.bound))
				}
				continue
			}
			// Not named, or named only in another case, which Let's Encrypt does not match.
			add = append(add, dns.CAA{Tag: k.tag, Value: p.value})
		}
	}
	notes.restricts = ps.trigger == triggerAny && !issue.present && len(add) > 0
	return add, notes
}

// maxCachedRRsets bounds the RRsets whose partner additions are remembered; when it is reached
// the cache starts again empty, so zone data that keeps changing cannot grow it without limit.
const maxCachedRRsets = 4096

// additionsCache remembers the partner additions for the CAA RRsets met at query time (the zone
// data's, or the policy united with them): the same few RRsets come back on every query, and
// working out their additions parses every value of them.
type additionsCache struct {
	seed maphash.Seed
	mu   sync.RWMutex
	m    map[uint64]*cachedAdditions
}

type cachedAdditions struct {
	rrset []dns.CAA // flags, tags and values of the RRset, no headers
	add   []dns.CAA // shared by every caller: copy before changing
	notes partnerNotes
}

func newAdditionsCache() *additionsCache {
	return &additionsCache{seed: maphash.MakeSeed(), m: map[uint64]*cachedAdditions{}}
}

// cachedAdditions returns ps.additions(rrset), from the cache when the same RRset (the same
// flags, tags and values, in the same order) was seen before. The records returned are shared:
// the caller copies them before setting their headers.
func (ps *partnerSet) cachedAdditions(rrset []dns.CAA) ([]dns.CAA, partnerNotes) {
	if len(ps.list) == 0 || len(rrset) == 0 {
		return nil, partnerNotes{}
	}
	c := ps.cache
	if c == nil {
		return ps.additions(rrset)
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	for i := range rrset {
		h.WriteByte(rrset[i].Flag)
		h.WriteString(rrset[i].Tag)
		h.WriteByte(0)
		h.WriteString(rrset[i].Value)
		h.WriteByte(0)
	}
	key := h.Sum64()
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e != nil && sameProperties(e.rrset, rrset) {
		return e.add, e.notes
	}
	e = &cachedAdditions{rrset: make([]dns.CAA, len(rrset))}
	for i := range rrset {
		e.rrset[i] = dns.CAA{Flag: rrset[i].Flag, Tag: rrset[i].Tag, Value: rrset[i].Value}
	}
	e.add, e.notes = ps.additions(e.rrset)
	c.mu.Lock()
	if len(c.m) >= maxCachedRRsets {
		clear(c.m)
	}
	c.m[key] = e
	c.mu.Unlock()
	return e.add, e.notes
}

// sameProperties reports whether a and b hold the same flags, tags and values in the same order,
// byte for byte (partner additions depend on the case of an issuer).
func sameProperties(a, b []dns.CAA) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Flag != b[i].Flag || a[i].Tag != b[i].Tag || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// nearestPreset returns the preset a misspelt one most likely means (two edits at most), or "".
func nearestPreset(s string) string {
	best, bestD := "", 3
	for p := range presets {
		if d := caa.EditDistance(strings.ToLower(s), p); d < bestD || (d == bestD && p < best) {
			best, bestD = p, d
		}
	}
	return best
}

// parsePartner turns one argument of a partners line into partners: a preset, or
// CA[;KEY=VALUE...] checked like an issue value.
func parsePartner(arg string) ([]string, error) {
	if list, ok := presets[strings.ToLower(arg)]; ok {
		return list, nil
	}
	if strings.EqualFold(arg, "none") || strings.EqualFold(arg, "off") {
		return nil, fmt.Errorf("partners %s stands alone on its line; write partners off to add no partner records", arg)
	}
	if !strings.Contains(arg, ";") && strings.Contains(arg, "=") {
		return nil, fmt.Errorf("partner %q: parameters attach to their CA with ';', as in letsencrypt.org;accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/123456", arg)
	}
	if issuer, _, _ := strings.Cut(arg, ";"); !strings.Contains(strings.TrimSuffix(issuer, "."), ".") {
		if near := nearestPreset(issuer); near != "" {
			return nil, fmt.Errorf("partner %q is neither a preset nor a CA domain; did you mean the preset %s?", arg, near)
		}
		return nil, fmt.Errorf("partner %q is neither a preset (cloudflare, aws, google) nor a CA domain such as letsencrypt.org", arg)
	}
	v, err := issueValueFromArgs([]string{arg})
	if err != nil {
		return nil, fmt.Errorf("partner %q: %v; or name a preset: cloudflare, aws, google", arg, err)
	}
	return []string{v}, nil
}

// addPartner adds value to ps unless a partner with the same identifier is there already; the
// first one listed wins, and a different second value is returned as a warning.
func (ps *partnerSet) addPartner(value, pos string) (warning string, err error) {
	v, err := caa.ParseIssueValue(value)
	if err != nil {
		return "", err
	}
	for _, p := range ps.list {
		if p.issuer == v.Issuer {
			if p.value != value {
				warning = fmt.Sprintf("partner %s is listed again as %q; the first, %q from %s, is used", v.Issuer, value, p.value, p.pos)
			}
			return warning, nil
		}
	}
	ps.list = append(ps.list, partner{issuer: v.Issuer, value: value, pos: pos})
	return "", nil
}
