package corefile

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// defaultTTL is the TTL of synthesized records when the Corefile sets none.
const defaultTTL = 300

// MaxSerial is the largest policy serial: adding it to a zone's serial stays within the RFC 1982
// window (a change of less than 2^31) whatever that serial is.
const MaxSerial = 1<<31 - 1

// propertyNames lists what may stand inside a policy (the top level or a name block).
const propertyNames = "issue, issuewild, iodef, contactemail, contactphone, record, persist"

// settingNames lists what may stand at the top level besides the policy properties.
const settingNames = "ttl, serial, name, zone, partners, trigger, zonedata, fallthrough, log, ca, checks, node, acknowledge"

// parser reads one block: the Block being filled and what the reading needs to remember.
type parser struct {
	c *caddy.Controller
	b *Block

	logSet, checksSet, nodeSet, serialSet bool

	inName, closed bool  // reading a name block; its "}" ended the last property's line
	inZone         *Zone // the zone block being read, nil outside one
	zoneClosed     bool  // the zone block's "}" ended the last line
}

// Parse reads one caapolicy block; the dispenser stands on the "caapolicy" token. Every error
// names the file and line at fault.
func Parse(c *caddy.Controller) (*Block, error) {
	b := &Block{Settings: Scope{TTL: defaultTTL, Merge: true}, Names: map[string]Policy{}, Log: watch.Config{Queries: true, Window: watch.DefaultWindow}}
	p := &parser{c: c, b: b}
	args := c.RemainingArgs()
	for _, a := range args {
		if _, ok := dns.IsDomainName(a); !ok || strings.Contains(a, "*") {
			return nil, c.Errf("zone %q is not a domain name; write caapolicy example.org", a)
		}
	}
	b.Zones = plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
	b.Pos = pos(c)
	b.Apex.Pos = b.Pos

	for c.NextBlock() {
		if err := p.topLevel(); err != nil {
			return nil, err
		}
	}
	b.settle()
	if b.FallSet && !b.Settings.Merge {
		return nil, ErrAt(b.fallPos, "fallthrough needs zonedata merge: only the zone data tells caapolicy that a name does not exist")
	}
	for _, z := range b.Overrides {
		if b.FallSet && !z.Settings.Merge && fallCovers(b.Fall, z.Name) {
			return nil, ErrAt(z.Pos, "zone "+z.Name+" ignores zone data, but fallthrough (at "+b.fallPos+") covers it, and fallthrough needs zonedata merge: only the zone data tells caapolicy that a name does not exist; keep zonedata merge in zone "+z.Name+" or leave it out of the fallthrough zones")
		}
	}
	if len(b.Apex.Props) > 0 && slices.Contains(b.Zones, ".") {
		// A CA's climb asks the real root servers for ".", never this server: a policy there
		// protects nothing, while the operator believes it covers every zone of the block.
		return nil, ErrAt(b.Apex.Pos, "a policy at the root zone . is never asked by any CA (the root servers answer for .), so it protects nothing; list the zones the policy is for (caapolicy example.org example.net { ... }), or write it in name blocks with absolute names")
	}
	return b, nil
}

// topLevel reads the line of the block's top level that the dispenser stands on.
func (p *parser) topLevel() error {
	c, b := p.c, p.b
	prop := c.Val()
	if ok, err := p.setting(&b.Settings); ok || err != nil {
		return err
	}
	switch strings.ToLower(prop) {
	case "fallthrough":
		if err := once(c, &b.FallSet); err != nil {
			return err
		}
		b.fallPos = pos(c)
		b.Fall = c.RemainingArgs()
		for _, z := range b.Fall {
			if _, ok := dns.IsDomainName(z); !ok {
				return c.Errf("fallthrough zone %q is not a domain name; write fallthrough example.org", z)
			}
		}
	case "name":
		return p.nameBlock(b.Zones)
	case "zone":
		return p.zoneBlock()
	case "log":
		if err := once(c, &p.logSet); err != nil {
			return err
		}
		if err := parseLog(c.RemainingArgs(), &b.Log); err != nil {
			return c.Err(err.Error())
		}
		b.Log.DestPos = pos(c)
	case "checks":
		if err := once(c, &p.checksSet); err != nil {
			return err
		}
		v := c.RemainingArgs()
		if len(v) != 1 {
			return c.Errf("checks takes the window that groups a CA's queries into one check, or off: checks 2s")
		}
		if v[0] == "off" {
			b.Log.Window = 0
			break
		}
		d, err := time.ParseDuration(v[0])
		if err != nil || d <= 0 || d > time.Minute {
			return c.Errf("checks %q is not a window from 1ms to 1m, or off; write checks 2s", v[0])
		}
		b.Log.Window = d
	case "node":
		if err := once(c, &p.nodeSet); err != nil {
			return err
		}
		v := c.RemainingArgs()
		if len(v) != 1 || !validNode(v[0]) {
			return c.Errf("node takes the name of this server in the query log, in letters, digits, '.', '-' and '_': node ns1.example.net")
		}
		b.Log.Node = v[0]
	case "ca":
		if err := parseCA(&b.CAs, c.RemainingArgs(), pos(c)); err != nil {
			return c.Err(err.Error())
		}
	case "serial":
		if err := once(c, &p.serialSet); err != nil {
			return err
		}
		v := c.RemainingArgs()
		n, err := strconv.ParseUint(strings.Join(v, " "), 10, 32)
		if len(v) != 1 || err != nil || n > MaxSerial {
			return c.Errf("serial takes one number from 0 to %d, raised with each policy change that secondaries must see: serial 1", MaxSerial)
		}
		b.Serial = uint32(n)
	default:
		ok, err := p.property(&b.Apex)
		if err != nil {
			return err
		}
		if !ok {
			return c.Errf("unknown property %q; a caapolicy block takes %s, %s", prop, propertyNames, settingNames)
		}
	}
	return nil
}

// warnf records a warning about the declaration at pos.
func (p *parser) warnf(pos, format string, args ...any) {
	p.b.Warnings = append(p.b.Warnings, pos+": "+fmt.Sprintf(format, args...))
}

// DefaultNode names this server in the query log by its host name (read by hostname) where the
// block logs queries or groups checks and writes no node line. It fails, at the block, for a
// host name that cannot be read or cannot name a server.
func (b *Block) DefaultNode(hostname func() (string, error)) error {
	if b.Log.Node != "" || !b.Log.Queries && b.Log.Window <= 0 {
		return nil
	}
	host, err := hostname()
	switch {
	case err != nil:
		return ErrAt(b.Apex.Pos, fmt.Sprintf("the host name cannot be read (%v) to name this server in the query log; write node NAME in the block", err))
	case !validNode(host):
		return ErrAt(b.Apex.Pos, fmt.Sprintf("the host name %q cannot name this server in the query log (letters, digits, '.', '-' and '_'); write node NAME in the block", host))
	}
	b.Log.Node = host
	return nil
}

// fallCovers reports whether fallthrough with the zones fall (every zone if none) applies to any
// name in zone.
func fallCovers(fall []string, zone string) bool {
	if len(fall) == 0 {
		return true
	}
	for _, f := range fall {
		f = strings.ToLower(dns.Fqdn(f))
		if dnsname.AtOrBelow(zone, f) || dnsname.AtOrBelow(f, zone) {
			return true
		}
	}
	return false
}

// once marks the setting the dispenser stands on as seen, or fails if it was seen already.
func once(c *caddy.Controller, seen *bool) error {
	if *seen {
		v := strings.ToLower(c.Val())
		return c.Errf("%s is set twice; keep one %s line", v, v)
	}
	*seen = true
	return nil
}

// parseLog reads "log [all|none] [json] [FILE|unix:SOCKET]".
func parseLog(args []string, l *watch.Config) error {
	var seenLevel, seenJSON bool
	for _, a := range args {
		switch {
		case (a == "all" || a == "none") && !seenLevel:
			seenLevel, l.Queries = true, a == "all"
		case a == "json" && !seenJSON:
			seenJSON, l.JSON = true, true
		case l.Dest == "" && (strings.Contains(a, "/") || strings.HasPrefix(a, "unix:")):
			l.Dest = a
		default:
			return fmt.Errorf("log takes all or none, json, and a file path (with a /, as ./caapolicy.json) or unix:SOCKET to write to: log all json /var/log/coredns/caapolicy.json")
		}
	}
	return nil
}

// validNode reports whether s can name a server in the query log: it is printed unquoted in
// text lines, so it is 1 to 253 letters, digits, '.', '-' and '_', as host names are.
func validNode(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// parseCA reads "ca NAME CIDR [CIDR...]" arguments: NAME is the CA's issuer domain name, as its
// CAA records name it, so that check events can tell whether the CA is authorized.
func parseCA(t *watch.CATable, args []string, pos string) error {
	if len(args) < 2 {
		return fmt.Errorf("ca takes the CA's identifier and its source prefixes: ca letsencrypt.org 192.0.2.0/24 2001:db8::/32")
	}
	ca := strings.ToLower(strings.TrimSuffix(args[0], "."))
	if ca == watch.UnknownCA || caa.CheckDomainName(ca) != nil || !strings.Contains(ca, ".") {
		return fmt.Errorf("ca %q is not a CA identifier; name the CA as CAA records do, such as letsencrypt.org", args[0])
	}
	for _, cidr := range args[1:] {
		if err := t.Add(ca, cidr, pos); err != nil {
			return err
		}
	}
	return nil
}

// ErrAt is caddy's Controller.Err for a token read earlier, at pos ("file:line"): the error of
// a Corefile line found at fault after it was read.
func ErrAt(pos, msg string) error {
	return errors.New(pos + " - Error during parsing: " + msg)
}

// pos is the file:line of the current token, as CoreDNS prints it in errors.
func pos(c *caddy.Controller) string {
	return fmt.Sprintf("%s:%d", c.File(), c.Line())
}
