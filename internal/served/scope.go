package served

import (
	"slices"

	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/dnsname"
)

// Zone blocks (`zone ZONE { ... }` in a block, read by internal/corefile) give one zone and the
// names below it settings of their own. Each becomes a scope here; every owner keeps a pointer to
// its scope, and names without a policy find theirs per query through scopeOf.

// scope is what the answers at the names of one zone follow: the block's settings, or a zone
// block's. Owners keep a pointer to theirs.
type scope struct {
	zone     string // the block's zone, or the zone block's; "" for the block's own settings
	merge    bool
	ttl      uint32
	partners partnerSet
}

// same reports whether s and o answer alike: the same zone data mode, TTL, trigger and partners.
func (s *scope) same(o *scope) bool {
	return s.merge == o.merge && s.ttl == o.ttl && s.partners.trigger == o.partners.trigger &&
		slices.EqualFunc(s.partners.list, o.partners.list, func(a, b corefile.Partner) bool { return a.Value == b.Value })
}

// newScope prepares the settings sc for answering.
func newScope(zone string, sc corefile.Scope) *scope {
	return &scope{zone: zone, merge: sc.Merge, ttl: sc.TTL, partners: partnerSet{list: sc.Partners, trigger: sc.Trigger, cache: newAdditionsCache()}}
}

// scopeOf returns the settings for the lowercase name lname: the most specific zone block's
// holding it, else the block's. Without zone blocks it is one comparison.
func (v *View) scopeOf(lname []byte) *scope {
	if v.scopes == nil {
		return v.base
	}
	for i := 0; i < len(lname); i++ {
		if i == 0 || lname[i-1] == '.' {
			if s, ok := v.scopes[string(lname[i:])]; ok {
				return s
			}
		}
	}
	return v.base
}

// scopeFor is scopeOf for a name in any spelling. It stays out of line, to keep its buffer off
// its callers' stack frames.
//
//go:noinline
func (v *View) scopeFor(n string) *scope {
	if v.scopes == nil {
		return v.base
	}
	var buf [256]byte
	return v.scopeOf(dnsname.Lower(buf[:0], n))
}

// allScopes returns the block's settings, then every zone block's, in Corefile order.
func (v *View) allScopes() []*scope {
	out := []*scope{v.base}
	for _, z := range v.overrideZones {
		out = append(out, v.scopes[z])
	}
	return out
}
