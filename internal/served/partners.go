package served

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corefile"

	"github.com/miekg/dns"
)

// The partner rules (README.md, "Partner CAs"): which partner records a CAA RRset gets, and
// why partner certificates may fail there. The partners lines and their presets are read by
// internal/corefile.

// partnerSet is the partner configuration of a caapolicy block.
type partnerSet struct {
	list    []corefile.Partner
	trigger corefile.Trigger
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
	if ps.trigger == corefile.TriggerRestrictive && !issue.present && !wild.present {
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
		case k.tag == caa.TagIssue && !k.kind.present && ps.trigger == corefile.TriggerRestrictive:
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
			own := k.kind.values[p.Issuer]
			switch {
			case own.exact:
				// Rule 2: the customer authorizes this CA already, without conditions.
				continue
			case own.bound != "":
				// Rule 3: the customer's parameters bind this CA; no broader record beside them.
				if own.canonical != p.Value {
					notes.bound = append(notes.bound, fmt.Sprintf("%s (%s %q)", p.Issuer, k.tag, own.bound))
				}
				continue
			}
			// Not named, or named only in another case, which Let's Encrypt does not match.
			add = append(add, dns.CAA{Tag: k.tag, Value: p.Value})
		}
	}
	notes.restricts = ps.trigger == corefile.TriggerAny && !issue.present && len(add) > 0
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
