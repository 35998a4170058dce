package caapolicy

import (
	"github.com/caapolicy/caapolicy/internal/dnsname"
	"slices"
	"strconv"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// A platform serves thousands of customer zones from one block (`caapolicy .` over `auto`), and
// each customer may need other settings than the block's: no partner CAs, other partners, zone
// data ignored, a policy of its own. A zone block sets them for one zone and every name below it:
//
//	caapolicy . {
//	    partners cloudflare
//	    import /etc/coredns/caapolicy.d/*.conf
//	}
//
// with, in /etc/coredns/caapolicy.d/cust0010.test.conf,
//
//	zone cust0010.test { partners off }
//
// A zone block takes the settings that shape the answers of its zone: ttl, zonedata, partners,
// trigger, the policy of the zone's apex and name blocks (relative to the zone) and acknowledge.
// A setting it does not write is the block's. The settings of the whole block (log, checks, ca,
// serial, fallthrough, node) stay at the block's top level. The most specific zone block holding
// a name decides for it. The override zones are the operator's data, in the operator's Corefile:
// nothing in a customer's zone data can turn partners on or lift a lock-down (zonedata.go).
//
// CoreDNS's `import` works inside the block: each imported line keeps its own file:line in
// errors and warnings, and the reload plugin watches the imported files too, so a new override
// file takes effect at the next reload check. Zones that `auto` finds later get the block's
// settings at once, and their zone block's as soon as it is imported.

// scopeConfig is what a block, or one zone block in it, sets for the answers of its zones.
type scopeConfig struct {
	ttl    uint32
	ttlSet bool

	merge    bool
	zoneSeen bool

	partners    partnerSet
	partnersOff bool   // "partners off" was written
	partnersPos string // where the first partners line is
	triggerSet  bool
}

// zoneConfig is one zone block: its zone, its settings and the policy of its apex.
type zoneConfig struct {
	zone string // lowercase, fully qualified
	pos  string // where the zone block opens
	scopeConfig
	apex policy
}

// blockWide lists the settings that only the block's top level takes.
const blockWide = "log, checks, ca, serial, fallthrough, node"

// zoneSettingNames lists what a zone block takes besides the policy properties.
const zoneSettingNames = "ttl, zonedata, partners, trigger, name, acknowledge"

// parseSetting reads one of the settings a zone block may override (ttl, zonedata, partners,
// trigger) into sc, if the dispenser stands on one; ok says whether it did.
func (sc *scopeConfig) parseSetting(c *caddy.Controller, cfg *blockConfig) (ok bool, err error) {
	switch strings.ToLower(c.Val()) {
	case "ttl":
		if err := once(c, &sc.ttlSet); err != nil {
			return true, err
		}
		v, err := cfg.args(c)
		if err != nil {
			return true, err
		}
		if len(v) != 1 {
			return true, c.Errf("ttl takes one value, the TTL in seconds: ttl 300")
		}
		n, err := strconv.ParseUint(v[0], 10, 32)
		if err != nil || n > 2147483647 {
			return true, c.Errf("ttl %q is not a number of seconds from 0 to 2147483647; write ttl 300", v[0])
		}
		sc.ttl = uint32(n)
	case "zonedata":
		if err := once(c, &sc.zoneSeen); err != nil {
			return true, err
		}
		v, err := cfg.args(c)
		if err != nil {
			return true, err
		}
		if len(v) != 1 || (v[0] != "merge" && v[0] != "ignore") {
			return true, c.Errf("zonedata takes merge or ignore: zonedata merge")
		}
		sc.merge = v[0] == "merge"
	case "partners":
		return true, sc.parsePartners(c, cfg)
	case "trigger":
		if err := once(c, &sc.triggerSet); err != nil {
			return true, err
		}
		v, err := cfg.args(c)
		if err != nil {
			return true, err
		}
		if len(v) != 1 || (v[0] != "restrictive" && v[0] != "any") {
			return true, c.Errf("trigger takes restrictive (partners only where issuance is restricted already) or any (at every CAA RRset, as Cloudflare does): trigger restrictive")
		}
		sc.partners.trigger = triggerRestrictive
		if v[0] == "any" {
			sc.partners.trigger = triggerAny
		}
	default:
		return false, nil
	}
	return true, nil
}

// args returns the arguments of the line the dispenser stands on. Inside a name or zone block,
// closing braces at the end of the line close those blocks (one-line blocks: zone
// cust.test { partners off }, name www { issue letsencrypt.org }).
func (cfg *blockConfig) args(c *caddy.Controller) ([]string, error) {
	args := c.RemainingArgs()
	for len(args) > 0 && args[len(args)-1] == "}" {
		switch {
		case cfg.inName && !cfg.closed:
			cfg.closed = true
		case cfg.inZone != nil && !cfg.zoneClosed && (!cfg.inName || cfg.closed):
			cfg.zoneClosed = true
		case cfg.inName || cfg.inZone != nil:
			return nil, c.Errf("unexpected '}': this line closes more blocks than are open")
		default:
			return nil, c.Errf("a one-line caapolicy block is not supported: put its closing } on a line of its own")
		}
		args = args[:len(args)-1]
	}
	// The braces were read right to left: a name block's closes first.
	return args, nil
}

// parseZoneBlock reads "zone ZONE { settings }"; the dispenser stands on "zone".
func parseZoneBlock(c *caddy.Controller, cfg *blockConfig) error {
	at := pos(c)
	args := c.RemainingArgs()
	if len(args) != 1 || !c.NextArg() || c.Val() != "{" {
		return c.Errf("zone takes one zone name and a block opened on the same line: zone cust.example { partners off }")
	}
	z := args[0]
	if _, ok := dns.IsDomainName(z); !ok || strings.ContainsFunc(z, notInName) || strings.Contains(z, "*") {
		return c.Errf("zone %q is not a domain name; write the zone's full name: zone cust.example { partners off }", z)
	}
	z = strings.ToLower(dns.Fqdn(z))
	for _, bz := range cfg.zones {
		if z == bz {
			return c.Errf("zone %s is a zone of this caapolicy block itself; write its settings at the block's top level", z)
		}
	}
	if !plugin.Zones(cfg.zones).Contains(z) {
		return c.Errf("zone %s is outside the zones of this block (%s); a zone block overrides settings for a zone below them", z, strings.Join(cfg.zones, " "))
	}
	for _, o := range cfg.overrides {
		if o.zone == z {
			return c.Errf("zone %s has two zone blocks (the first at %s); merge them", z, o.pos)
		}
	}
	zc := &zoneConfig{zone: z, pos: at, apex: policy{pos: at}}
	cfg.inZone, cfg.zoneClosed = zc, false
	defer func() { cfg.inZone = nil }()
	for !cfg.zoneClosed {
		if !c.Next() {
			return c.EOFErr()
		}
		key := strings.ToLower(c.Val())
		if key == "}" {
			break
		}
		if ok, err := zc.parseSetting(c, cfg); ok || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		switch key {
		case "{":
			return c.Errf("unexpected '{' in zone %s; a zone block takes %s and the properties %s", z, zoneSettingNames, propertyNames)
		case "zone":
			return c.Errf("zone blocks cannot be nested; write each zone block at the top level of the caapolicy block")
		case "name":
			if err := parseNameBlock(c, cfg, []string{z}); err != nil {
				return err
			}
			continue
		}
		if strings.Contains(", "+blockWide+",", ", "+key+",") {
			return c.Errf("%s applies to the whole caapolicy block; write it at the block's top level, not in zone %s", key, z)
		}
		ok, err := cfg.parseProperty(c, &zc.apex)
		if err != nil {
			return err
		}
		if !ok {
			return c.Errf("unknown setting %q in zone %s; a zone block takes %s and the properties %s", c.Val(), z, zoneSettingNames, propertyNames)
		}
	}
	if len(zc.apex.props) > 0 || len(zc.apex.persist) > 0 || zc.apex.ack != "" {
		if prev, dup := cfg.names[z]; dup {
			return errAt(at, "the policy at "+z+" is declared twice (first at "+prev.pos+"); keep it in zone "+z+"'s block")
		}
		cfg.names[z] = zc.apex
	}
	cfg.overrides = append(cfg.overrides, zc)
	return nil
}

// settle completes the zone blocks once the whole block is read: a setting a zone block does
// not write is the block's, wherever in the block that is written.
func (cfg *blockConfig) settle() {
	for _, zc := range cfg.overrides {
		if !zc.ttlSet {
			zc.ttl = cfg.ttl
		}
		if !zc.zoneSeen {
			zc.merge = cfg.merge
		}
		if zc.partnersPos == "" {
			zc.partners.list = cfg.partners.list
		}
		if !zc.triggerSet {
			zc.partners.trigger = cfg.partners.trigger
		}
	}
}

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
		slices.EqualFunc(s.partners.list, o.partners.list, func(a, b partner) bool { return a.value == b.value })
}

// newScope prepares the settings sc for answering.
func newScope(zone string, sc scopeConfig) *scope {
	s := &scope{zone: zone, merge: sc.merge, ttl: sc.ttl, partners: sc.partners}
	s.partners.cache = newAdditionsCache()
	return s
}

// scopeOf returns the settings for the lowercase name lname: the most specific zone block's
// holding it, else the block's. Without zone blocks it is one comparison.
func (c *CAAPolicy) scopeOf(lname []byte) *scope {
	if c.scopes == nil {
		return c.base
	}
	for i := 0; i < len(lname); i++ {
		if i == 0 || lname[i-1] == '.' {
			if s, ok := c.scopes[string(lname[i:])]; ok {
				return s
			}
		}
	}
	return c.base
}

// scopeFor is scopeOf for a name in any spelling. It stays out of line, to keep its buffer off
// its callers' stack frames.
//
//go:noinline
func (c *CAAPolicy) scopeFor(n string) *scope {
	if c.scopes == nil {
		return c.base
	}
	var buf [256]byte
	return c.scopeOf(dnsname.Lower(buf[:0], n))
}

// allScopes returns the block's settings, then every zone block's, in Corefile order.
func (c *CAAPolicy) allScopes() []*scope {
	out := []*scope{c.base}
	for _, z := range c.overrideZones {
		out = append(out, c.scopes[z])
	}
	return out
}
