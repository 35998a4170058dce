package corefile

import (
	"strconv"
	"strings"

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
// nothing in a customer's zone data can turn partners on or lift a lock-down (the plugin's
// internal/served, answer.go).
//
// CoreDNS's `import` works inside the block: each imported line keeps its own file:line in
// errors and warnings, and the reload plugin watches the imported files too, so a new override
// file takes effect at the next reload check. Zones that `auto` finds later get the block's
// settings at once, and their zone block's as soon as it is imported.

// blockWide lists the settings that only the block's top level takes.
const blockWide = "log, checks, ca, serial, fallthrough, node"

// zoneSettingNames lists what a zone block takes besides the policy properties.
const zoneSettingNames = "ttl, zonedata, partners, trigger, name, acknowledge"

// setting reads one of the settings a zone block may override (ttl, zonedata, partners,
// trigger) into sc, if the dispenser stands on one; ok says whether it did.
func (p *parser) setting(sc *Scope) (ok bool, err error) {
	c := p.c
	switch strings.ToLower(c.Val()) {
	case "ttl":
		if err := once(c, &sc.ttlSet); err != nil {
			return true, err
		}
		v, err := p.args()
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
		sc.TTL = uint32(n)
	case "zonedata":
		if err := once(c, &sc.mergeSet); err != nil {
			return true, err
		}
		v, err := p.args()
		if err != nil {
			return true, err
		}
		if len(v) != 1 || (v[0] != "merge" && v[0] != "ignore") {
			return true, c.Errf("zonedata takes merge or ignore: zonedata merge")
		}
		sc.Merge = v[0] == "merge"
	case "partners":
		return true, p.partners(sc)
	case "trigger":
		if err := once(c, &sc.triggerSet); err != nil {
			return true, err
		}
		v, err := p.args()
		if err != nil {
			return true, err
		}
		if len(v) != 1 || (v[0] != "restrictive" && v[0] != "any") {
			return true, c.Errf("trigger takes restrictive (partners only where issuance is restricted already) or any (at every CAA RRset, as Cloudflare does): trigger restrictive")
		}
		sc.Trigger = TriggerRestrictive
		if v[0] == "any" {
			sc.Trigger = TriggerAny
		}
	default:
		return false, nil
	}
	return true, nil
}

// args returns the arguments of the line the dispenser stands on. Inside a name or zone block,
// closing braces at the end of the line close those blocks (one-line blocks: zone
// cust.test { partners off }, name www { issue letsencrypt.org }).
func (p *parser) args() ([]string, error) {
	c := p.c
	args := c.RemainingArgs()
	for len(args) > 0 && args[len(args)-1] == "}" {
		switch {
		case p.inName && !p.closed:
			p.closed = true
		case p.inZone != nil && !p.zoneClosed && (!p.inName || p.closed):
			p.zoneClosed = true
		case p.inName || p.inZone != nil:
			return nil, c.Errf("unexpected '}': this line closes more blocks than are open")
		default:
			return nil, c.Errf("a one-line caapolicy block is not supported: put its closing } on a line of its own")
		}
		args = args[:len(args)-1]
	}
	// The braces were read right to left: a name block's closes first.
	return args, nil
}

// zoneBlock reads "zone ZONE { settings }"; the dispenser stands on "zone".
func (p *parser) zoneBlock() error {
	c, b := p.c, p.b
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
	for _, bz := range b.Zones {
		if z == bz {
			return c.Errf("zone %s is a zone of this caapolicy block itself; write its settings at the block's top level", z)
		}
	}
	if !plugin.Zones(b.Zones).Contains(z) {
		return c.Errf("zone %s is outside the zones of this block (%s); a zone block overrides settings for a zone below them", z, strings.Join(b.Zones, " "))
	}
	for _, o := range b.Overrides {
		if o.Name == z {
			return c.Errf("zone %s has two zone blocks (the first at %s); merge them", z, o.Pos)
		}
	}
	zb := &Zone{Name: z, Pos: at, Apex: Policy{Pos: at}}
	p.inZone, p.zoneClosed = zb, false
	defer func() { p.inZone = nil }()
	for !p.zoneClosed {
		if !c.Next() {
			return c.EOFErr()
		}
		key := strings.ToLower(c.Val())
		if key == "}" {
			break
		}
		if ok, err := p.setting(&zb.Settings); ok || err != nil {
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
			if err := p.nameBlock([]string{z}); err != nil {
				return err
			}
			continue
		}
		if strings.Contains(", "+blockWide+",", ", "+key+",") {
			return c.Errf("%s applies to the whole caapolicy block; write it at the block's top level, not in zone %s", key, z)
		}
		ok, err := p.property(&zb.Apex)
		if err != nil {
			return err
		}
		if !ok {
			return c.Errf("unknown setting %q in zone %s; a zone block takes %s and the properties %s", c.Val(), z, zoneSettingNames, propertyNames)
		}
	}
	if len(zb.Apex.Props) > 0 || len(zb.Apex.Persist) > 0 || zb.Apex.Ack != "" {
		if prev, dup := b.Names[z]; dup {
			return ErrAt(at, "the policy at "+z+" is declared twice (first at "+prev.Pos+"); keep it in zone "+z+"'s block")
		}
		b.Names[z] = zb.Apex
	}
	b.Overrides = append(b.Overrides, *zb)
	return nil
}

// settle completes the zone blocks once the whole block is read: a setting a zone block does
// not write is the block's, wherever in the block that is written.
func (b *Block) settle() {
	for i := range b.Overrides {
		zs := &b.Overrides[i].Settings
		if !zs.ttlSet {
			zs.TTL = b.Settings.TTL
		}
		if !zs.mergeSet {
			zs.Merge = b.Settings.Merge
		}
		if zs.partnersPos == "" {
			zs.Partners = b.Settings.Partners
		}
		if !zs.triggerSet {
			zs.Trigger = b.Settings.Trigger
		}
	}
}
