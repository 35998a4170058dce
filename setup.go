package caapolicy

import (
	"errors"
	"fmt"
	"github.com/caapolicy/caapolicy/internal/dnsname"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/miekg/dns"
)

var log = clog.NewWithPlugin(name)

// processLog is the watcher's pipeline of the process: one queue and one writer goroutine for
// every caapolicy block (internal/watch).
var processLog = watch.NewPipeline(name)

func init() { plugin.Register(name, setup) }

func setup(c *caddy.Controller) error {
	// Each caapolicy block in a server block becomes its own handler, so that
	// different zones can carry different policies.
	var blocks []*CAAPolicy
	bypass := new([]string) // every block's zones, for cache (cache.go)
	serverZones := plugin.OriginsFromArgsOrServerBlock(nil, c.ServerBlockKeys)
	for c.Next() {
		h, err := parse(c)
		if err != nil {
			return plugin.Error(name, err)
		}
		if err := h.checkZones(serverZones, blocks); err != nil {
			return plugin.Error(name, err)
		}
		blocks = append(blocks, h)
		h.cas = shareCATable(c, h.cas)
		*bypass = append(*bypass, h.Zones...)
		h.bypass = bypass
		if h.qlog != nil {
			if err := joinInstance(c, h.qlog); err != nil {
				return plugin.Error(name, err)
			}
			c.OnStartup(func() error { return atDestination(h.qlog.Start()) })
			c.OnShutdown(h.qlog.Stop)
			c.OnFinalShutdown(h.qlog.Shutdown)
			c.OnRestartFailed(h.qlog.RestartFailed)
		}
		cfg := dnsserver.GetConfig(c)
		c.OnStartup(func() error {
			if err := h.checkNext(); err != nil {
				return plugin.Error(name, err)
			}
			h.findSigner(cfg)
			if err := h.startTransfers(cfg); err != nil {
				return plugin.Error(name, err)
			}
			h.zeroMetrics(cfg)
			h.group = blocks // shared by the blocks: one slice, not one list per block
			return nil
		})
		c.OnShutdown(func() error {
			h.stopOnce.Do(func() { close(h.stopped) })
			return nil
		})
		cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
			h.Next = next
			return h
		})
	}
	noteOffline(c, serverZones, blocks)
	return nil
}

// propertyNames lists what may stand inside a policy (the top level or a name block).
const propertyNames = "issue, issuewild, iodef, contactemail, contactphone, record, persist"

// settingNames lists what may stand at the top level besides the policy properties.
const settingNames = "ttl, serial, name, zone, partners, trigger, zonedata, fallthrough, log, ca, checks, node, acknowledge"

// blockConfig is one caapolicy block as read from the Corefile, before records are built.
type blockConfig struct {
	zones   []string
	apex    policy
	names   map[string]policy // fully qualified, lowercase owner -> its policy
	fall    []string
	fallSet bool
	fallPos string

	scopeConfig               // the block's settings for its zones (zoneblock.go)
	overrides   []*zoneConfig // the zone blocks, in Corefile order (zoneblock.go)

	serial    uint32 // the policy serial (serial.go)
	serialSet bool

	warnings []string // likely mistakes found while parsing, "file:line: text"

	log                        watch.Config
	logSet, checksSet, nodeSet bool
	cas                        watch.CATable

	inName, closed bool        // reading a name block; its "}" ended the last property's line
	inZone         *zoneConfig // the zone block being read, nil outside one
	zoneClosed     bool        // the zone block's "}" ended the last line
}

// warnf records a warning about the declaration at pos.
func (cfg *blockConfig) warnf(pos, format string, args ...any) {
	cfg.warnings = append(cfg.warnings, pos+": "+fmt.Sprintf(format, args...))
}

// parse reads one caapolicy block; the dispenser stands on the "caapolicy" token.
func parse(c *caddy.Controller) (*CAAPolicy, error) {
	cfg := blockConfig{scopeConfig: scopeConfig{ttl: defaultTTL, merge: true}, names: map[string]policy{}, log: watch.Config{Queries: true, Window: watch.DefaultWindow}}
	args := c.RemainingArgs()
	for _, a := range args {
		if _, ok := dns.IsDomainName(a); !ok || strings.Contains(a, "*") {
			return nil, c.Errf("zone %q is not a domain name; write caapolicy example.org", a)
		}
	}
	cfg.zones = plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
	cfg.apex.pos = pos(c)

	for c.NextBlock() {
		prop := c.Val()
		if ok, err := cfg.scopeConfig.parseSetting(c, &cfg); ok || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch strings.ToLower(prop) {
		case "fallthrough":
			if err := once(c, &cfg.fallSet); err != nil {
				return nil, err
			}
			cfg.fallPos = pos(c)
			cfg.fall = c.RemainingArgs()
			for _, z := range cfg.fall {
				if _, ok := dns.IsDomainName(z); !ok {
					return nil, c.Errf("fallthrough zone %q is not a domain name; write fallthrough example.org", z)
				}
			}
		case "name":
			if err := parseNameBlock(c, &cfg, cfg.zones); err != nil {
				return nil, err
			}
		case "zone":
			if err := parseZoneBlock(c, &cfg); err != nil {
				return nil, err
			}
		case "log":
			if err := once(c, &cfg.logSet); err != nil {
				return nil, err
			}
			if err := parseLog(c.RemainingArgs(), &cfg.log); err != nil {
				return nil, c.Err(err.Error())
			}
			cfg.log.DestPos = pos(c)
		case "checks":
			if err := once(c, &cfg.checksSet); err != nil {
				return nil, err
			}
			v := c.RemainingArgs()
			if len(v) != 1 {
				return nil, c.Errf("checks takes the window that groups a CA's queries into one check, or off: checks 2s")
			}
			if v[0] == "off" {
				cfg.log.Window = 0
				break
			}
			d, err := time.ParseDuration(v[0])
			if err != nil || d <= 0 || d > time.Minute {
				return nil, c.Errf("checks %q is not a window from 1ms to 1m, or off; write checks 2s", v[0])
			}
			cfg.log.Window = d
		case "node":
			if err := once(c, &cfg.nodeSet); err != nil {
				return nil, err
			}
			v := c.RemainingArgs()
			if len(v) != 1 || !validNode(v[0]) {
				return nil, c.Errf("node takes the name of this server in the query log, in letters, digits, '.', '-' and '_': node ns1.example.net")
			}
			cfg.log.Node = v[0]
		case "ca":
			if err := parseCA(&cfg.cas, c.RemainingArgs(), pos(c)); err != nil {
				return nil, c.Err(err.Error())
			}
		case "serial":
			if err := once(c, &cfg.serialSet); err != nil {
				return nil, err
			}
			v := c.RemainingArgs()
			n, err := strconv.ParseUint(strings.Join(v, " "), 10, 32)
			if len(v) != 1 || err != nil || n > maxPolicySerial {
				return nil, c.Errf("serial takes one number from 0 to %d, raised with each policy change that secondaries must see: serial 1", maxPolicySerial)
			}
			cfg.serial = uint32(n)
		default:
			p, err := cfg.parseProperty(c, &cfg.apex)
			if err != nil {
				return nil, err
			}
			if !p {
				return nil, c.Errf("unknown property %q; a caapolicy block takes %s, %s", prop, propertyNames, settingNames)
			}
		}
	}
	cfg.settle()
	if cfg.fallSet && !cfg.merge {
		return nil, errAt(cfg.fallPos, "fallthrough needs zonedata merge: only the zone data tells caapolicy that a name does not exist")
	}
	for _, zc := range cfg.overrides {
		if cfg.fallSet && !zc.merge && fallCovers(cfg.fall, zc.zone) {
			return nil, errAt(zc.pos, "zone "+zc.zone+" ignores zone data, but fallthrough (at "+cfg.fallPos+") covers it, and fallthrough needs zonedata merge: only the zone data tells caapolicy that a name does not exist; keep zonedata merge in zone "+zc.zone+" or leave it out of the fallthrough zones")
		}
	}
	if len(cfg.apex.props) > 0 && slices.Contains(cfg.zones, ".") {
		// A CA's climb asks the real root servers for ".", never this server: a policy there
		// protects nothing, while the operator believes it covers every zone of the block.
		return nil, errAt(cfg.apex.pos, "a policy at the root zone . is never asked by any CA (the root servers answer for .), so it protects nothing; list the zones the policy is for (caapolicy example.org example.net { ... }), or write it in name blocks with absolute names")
	}
	h := newHandler(cfg)
	for _, o := range h.owners {
		if err := checkRRsetSize(o); err != nil {
			return nil, err
		}
	}
	cas := cfg.cas // a table of its own: h keeps no pointer into the parsed block
	h.cas = &cas
	if cfg.log.Queries || cfg.log.Window > 0 {
		if !cfg.nodeSet {
			host, err := os.Hostname()
			switch {
			case err != nil:
				return nil, errAt(cfg.apex.pos, fmt.Sprintf("the host name cannot be read (%v) to name this server in the query log; write node NAME in the block", err))
			case !validNode(host):
				return nil, errAt(cfg.apex.pos, fmt.Sprintf("the host name %q cannot name this server in the query log (letters, digits, '.', '-' and '_'); write node NAME in the block", host))
			}
			cfg.log.Node = host
		}
		h.qlog = watch.NewLog(cfg.log, h.watchBlock(), processLog)
	}
	h.warnings, h.acknowledged = acknowledgeWarnings(&cfg, append(cfg.warnings, lint(&cfg, h)...))
	for _, w := range h.warnings {
		log.Warning(w)
	}
	if n := len(h.acknowledged); n > 0 {
		log.Infof("%s: %d warnings acknowledged as intended (caacheck -lint lists them)", cfg.apex.pos, n)
	}
	return h, nil
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

// logInstanceKey keys, in caddy's per-instance storage, the watch.Instance that the logging
// blocks of one Corefile load share: it opens their destinations at start-up, once for all the
// blocks naming one.
type logInstanceKey struct{}

// joinInstance adds a block's query log to the instance of the Corefile load being read. It
// fails, naming the log line, if the destination could not be opened.
func joinInstance(c *caddy.Controller, l *watch.Log) error {
	i, _ := c.Get(logInstanceKey{}).(*watch.Instance)
	if i == nil {
		i = new(watch.Instance)
		c.Set(logInstanceKey{}, i)
	}
	return atDestination(l.Join(i, dnsserver.GetConfig(c).Root))
}

// atDestination makes the error of a query log's destination a Corefile error at the line naming
// the destination.
func atDestination(err error) error {
	if de, ok := errors.AsType[*watch.DestError](err); ok {
		return errAt(de.Pos, de.Err.Error())
	}
	return err
}

// caTablesKey keys the load's watch.CATables in caddy's per-instance storage: blocks of one load
// listing the same CA prefixes share one table.
type caTablesKey struct{}

// shareCATable returns the table of an earlier block of the same load with the same contents as
// t, or t.
func shareCATable(c *caddy.Controller, t *watch.CATable) *watch.CATable {
	tables, _ := c.Get(caTablesKey{}).(*watch.CATables)
	if tables == nil {
		tables = new(watch.CATables)
		c.Set(caTablesKey{}, tables)
	}
	return tables.Share(t)
}

// parsePartners reads "partners PRESET|CA[;KEY=VALUE...] ..." or "partners off" into sc; several
// lines add up.
func (sc *scopeConfig) parsePartners(c *caddy.Controller, cfg *blockConfig) error {
	at := pos(c)
	args, err := cfg.args(c)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return c.Errf("partners takes presets (cloudflare, aws, google) or CA identifiers, or off: partners cloudflare")
	}
	if len(args) == 1 && strings.EqualFold(args[0], "off") {
		if sc.partnersPos != "" {
			return c.Errf("partners off conflicts with the partners listed at %s; keep one of them", sc.partnersPos)
		}
		sc.partnersOff, sc.partnersPos = true, at
		return nil
	}
	if sc.partnersOff {
		return c.Errf("partners are listed here but switched off at %s; keep one of them", sc.partnersPos)
	}
	if sc.partnersPos == "" {
		sc.partnersPos = at
	}
	for _, a := range args {
		values, err := parsePartner(a)
		if err != nil {
			return c.Err(err.Error())
		}
		for _, v := range values {
			warning, err := sc.partners.addPartner(v, at)
			if err != nil {
				return c.Errf("partner %q: %v", v, err)
			}
			if warning != "" {
				cfg.warnf(at, "%s", warning)
			}
		}
	}
	return nil
}

// parseProperty reads one policy property (the dispenser stands on its name) into p. It
// returns false if the token is not a property name.
func (cfg *blockConfig) parseProperty(c *caddy.Controller, p *policy) (bool, error) {
	tag := strings.ToLower(c.Val())
	switch tag {
	case caa.TagIssue, caa.TagIssueWild, caa.TagIodef, caa.TagContactEmail, caa.TagContactPhone, "record":
	case "acknowledge":
		at := pos(c)
		args, err := cfg.args(c)
		if err != nil {
			return true, err
		}
		return true, cfg.parseAcknowledge(c, at, args, p)
	case "persist":
		at := pos(c)
		args, err := cfg.args(c)
		if err != nil {
			return true, err
		}
		l, err := parsePersist(args)
		if err != nil {
			return true, c.Err(err.Error())
		}
		for _, q := range p.persist {
			if q.issuer == l.issuer && q.account == l.account {
				return true, c.Errf("persist %s %s is declared twice for this owner (first at %s); remove one", l.issuer, l.account, q.pos)
			}
		}
		l.pos = at
		p.persist = append(p.persist, l)
		return true, nil
	default:
		return false, nil
	}
	pr := property{tag: tag, pos: pos(c)}
	args, err := cfg.args(c)
	if err != nil {
		return true, err
	}
	switch tag {
	case caa.TagIssue, caa.TagIssueWild:
		v, err := issueValueFromArgs(args)
		if err != nil {
			return true, c.Errf("%s: %v", tag, err)
		}
		pr.value = v
	case caa.TagIodef:
		if len(args) != 1 {
			return true, c.Errf("iodef takes one URL: iodef mailto:security@example.org")
		}
		insecure, err := caa.CheckIodef(args[0])
		if err != nil {
			return true, c.Err(err.Error())
		}
		if insecure {
			cfg.warnf(pr.pos, "iodef %q sends incident reports over plain http; prefer https:", args[0])
		}
		pr.value = args[0]
	case caa.TagContactEmail:
		if len(args) != 1 {
			return true, c.Errf("contactemail takes one address: contactemail security@example.org")
		}
		if err := caa.CheckContactEmail(args[0]); err != nil {
			return true, c.Err(err.Error())
		}
		pr.value = args[0]
	case caa.TagContactPhone:
		if len(args) != 1 {
			return true, c.Errf("contactphone takes one number without spaces: contactphone +1-555-0100")
		}
		if err := caa.CheckContactPhone(args[0]); err != nil {
			return true, c.Err(err.Error())
		}
		pr.value = args[0]
	case "record":
		if len(args) != 3 {
			return true, c.Errf("record takes FLAGS TAG VALUE, with the value quoted if it holds spaces: record 128 tbs \"unknown\"")
		}
		f, err := strconv.ParseUint(args[0], 10, 8)
		if err != nil {
			return true, c.Errf("record flags %q are not a number from 0 to 255; write 0, or 128 for Issuer Critical", args[0])
		}
		if err := caa.CheckTag(args[1]); err != nil {
			return true, c.Errf("record: %v", err)
		}
		pr.flag, pr.tag, pr.value = uint8(f), args[1], args[2]
	}
	if err := checkPackable(pr); err != nil {
		return true, c.Err(err.Error())
	}
	for _, q := range p.props {
		if q.flag == pr.flag && strings.EqualFold(q.tag, pr.tag) && q.value == pr.value {
			return true, c.Errf("%s %q is declared twice for this owner (first at %s); remove one", pr.tag, pr.value, q.pos)
		}
	}
	p.props = append(p.props, pr)
	return true, nil
}

// issueValueFromArgs turns the arguments of issue or issuewild into the record value:
// "none" becomes ";", and "CA KEY=VALUE..." (or "CA;KEY=VALUE;...") becomes "ca; key=value; ...".
// CA identifiers are stored lowercase, without a trailing dot.
func issueValueFromArgs(args []string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("needs a CA identifier or none, as in letsencrypt.org accounturi=https://... or none")
	}
	if len(args) == 1 && strings.EqualFold(args[0], "none") {
		return ";", nil
	}
	var pieces []string
	for _, a := range args {
		for piece := range strings.SplitSeq(a, ";") {
			if piece = strings.TrimSpace(piece); piece != "" {
				pieces = append(pieces, piece)
			}
		}
	}
	if len(pieces) == 0 || strings.Contains(pieces[0], "=") {
		return "", fmt.Errorf("the CA identifier comes first, then KEY=VALUE parameters: letsencrypt.org validationmethods=dns-01")
	}
	var v caa.IssueValue
	v.Issuer = strings.TrimSuffix(strings.ToLower(pieces[0]), ".")
	if v.Issuer == "none" {
		return "", fmt.Errorf("none stands alone; it authorizes no CA and takes no parameters")
	}
	if strings.Contains(v.Issuer, "://") || strings.Contains(v.Issuer, "/") {
		return "", fmt.Errorf("CA identifier %q is a URL; CAA names the CA by its bare domain: write %s", pieces[0], caa.BareDomain(pieces[0]))
	}
	if err := caa.CheckDomainName(v.Issuer); err != nil {
		return "", fmt.Errorf("CA identifier %q: %v; write the CA's domain, such as letsencrypt.org", pieces[0], err)
	}
	for i, piece := range pieces[1:] {
		tag, value, ok := strings.Cut(piece, "=")
		if !ok {
			return "", paramMistake(piece, pieces[1:][i+1:], v.Issuer)
		}
		v.Params = append(v.Params, caa.Param{Tag: tag, Value: value})
	}
	// Check the result exactly as a CA parses it.
	parsed, err := caa.ParseIssueValue(v.String())
	if err != nil {
		return "", err
	}
	for _, p := range parsed.Params {
		var err error
		switch strings.ToLower(p.Tag) {
		case "accounturi":
			err = caa.CheckACMEAccountURI(p.Value)
		case "validationmethods":
			err = caa.CheckValidationMethods(p.Value)
		}
		if err != nil {
			return "", err
		}
	}
	return v.String(), nil
}

// paramMistake explains an argument after the CA identifier that is not KEY=VALUE, guessing what
// was meant: a second CA, a parameter written with ':' or a space instead of '='.
func paramMistake(piece string, rest []string, issuer string) error {
	low := strings.ToLower(piece)
	if tag, value, ok := strings.Cut(piece, ":"); ok && (strings.EqualFold(tag, "accounturi") || strings.EqualFold(tag, "validationmethods")) {
		return fmt.Errorf("parameter %q: write %s=%s, with '='", piece, strings.ToLower(tag), value)
	}
	if (low == "accounturi" || low == "validationmethods") && len(rest) > 0 {
		return fmt.Errorf("parameter %s takes its value after '=', not a space: write %s=%s", low, low, rest[0])
	}
	if strings.Contains(piece, ".") && caa.CheckDomainName(strings.TrimSuffix(piece, ".")) == nil {
		return fmt.Errorf("%q after %s looks like a second CA; write one CA per line: issue %s, then issue %s on the next line", piece, issuer, issuer, low)
	}
	return fmt.Errorf("parameter %q is not KEY=VALUE; write accounturi=https://... or validationmethods=dns-01", piece)
}

// parseNameBlock reads "name NAME [NAME...] { properties }"; the dispenser stands on "name".
// coredns/caddy has no nested blocks, so the inner braces are read here.
// zones are the zones a relative name is completed with: the block's, or a zone block's one.
func parseNameBlock(c *caddy.Controller, cfg *blockConfig, zones []string) error {
	at := pos(c)
	args := c.RemainingArgs()
	if len(args) == 0 {
		return c.Errf("name needs at least one owner name and a block: name www { issue letsencrypt.org }")
	}
	var owners []string
	for _, a := range args {
		o, err := ownerNames(a, zones)
		if err != nil {
			return c.Err(err.Error())
		}
		if err := checkRelative(a, o, zones); err != nil {
			return c.Err(err.Error())
		}
		owners = append(owners, o...)
	}
	if !c.NextArg() || c.Val() != "{" {
		return c.Errf("name %s needs a block opened on the same line: name %s { issue letsencrypt.org }", args[0], args[0])
	}
	p := policy{pos: at}
	cfg.inName, cfg.closed = true, false
	defer func() { cfg.inName = false }()
	for {
		if !c.Next() {
			return c.EOFErr()
		}
		switch strings.ToLower(c.Val()) {
		case "}":
			return cfg.closeName(c, args[0], owners, p)
		case "{", "name":
			return c.Errf("name blocks cannot be nested; list every owner on the outer name line")
		}
		ok, err := cfg.parseProperty(c, &p)
		if err != nil {
			return err
		}
		if !ok {
			return c.Errf("unknown property %q in a name block; a name block takes %s", c.Val(), propertyNames)
		}
		if cfg.closed {
			return cfg.closeName(c, args[0], owners, p)
		}
	}
}

// closeName stores the policy p of a name block for each of its owners.
func (cfg *blockConfig) closeName(c *caddy.Controller, first string, owners []string, p policy) error {
	if len(p.props) == 0 && len(p.persist) == 0 {
		return c.Errf("name %s has an empty block; add issue, issuewild, iodef... or remove it", first)
	}
	for _, o := range owners {
		if prev, dup := cfg.names[o]; dup {
			return c.Errf("name %s is declared twice (first at %s); merge the two blocks", o, prev.pos)
		}
		cfg.names[o] = p
	}
	return nil
}

// ownerNames completes a name from a name line: a relative name is completed with every zone of
// the block, an absolute name (with a trailing dot) must lie inside one of them.
func ownerNames(n string, zones []string) ([]string, error) {
	if n == "@" {
		return nil, fmt.Errorf("the apex policy is written at the top level of the block, not in a name block")
	}
	if strings.Contains(n, "*") {
		return nil, fmt.Errorf("name %q: wildcard owners are not supported; CAs check the parent name for a wildcard certificate, so put issuewild on the parent", n)
	}
	if _, ok := dns.IsDomainName(n); !ok || strings.ContainsFunc(n, notInName) {
		return nil, fmt.Errorf("name %q is not a domain name; write a relative name such as www, or an absolute one with its trailing dot", n)
	}
	var out []string
	if dns.IsFqdn(n) {
		full := strings.ToLower(n)
		if !plugin.Zones(zones).Contains(full) {
			return nil, fmt.Errorf("name %q is outside the zones of this block (%s); write a name below one of them, or a relative name", n, strings.Join(zones, " "))
		}
		out = append(out, full)
	} else {
		for _, z := range zones {
			out = append(out, strings.ToLower(dns.Fqdn(n+"."+strings.TrimSuffix(z, "."))))
		}
	}
	for _, o := range out {
		for _, z := range zones {
			if o == z {
				return nil, fmt.Errorf("name %q is the apex of zone %s; write the apex policy at the top level of the block", n, z)
			}
		}
	}
	return out, nil
}

// notInName reports the bytes a name line never means: braces (a stray block), control bytes
// and NUL, spaces and quotes that only a mistake puts there.
func notInName(r rune) bool {
	return r < 0x21 || r == 0x7f || r == '{' || r == '}' || r == '"' || r == ';'
}

// checkRelative refuses a relative name that ends with its zone's name: name www.example.org in
// zone example.org stands for www.example.org.example.org., which is never meant. The error
// shows both ways to write the name that was meant.
func checkRelative(arg string, owners, zones []string) error {
	if dns.IsFqdn(arg) {
		return nil
	}
	for i, z := range zones {
		apex := strings.TrimSuffix(z, ".")
		if apex != "" && (strings.EqualFold(arg, apex) || strings.HasSuffix(strings.ToLower(arg), "."+apex)) && i < len(owners) {
			rel := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(arg), apex), ".")
			if rel == "" {
				return fmt.Errorf("name %s has no trailing dot, so it is relative and stands for %s; the apex policy of %s is written at the top level of the block", arg, owners[i], z)
			}
			return fmt.Errorf("name %s has no trailing dot, so it is relative and stands for %s; write name %s (relative) or name %s. (absolute)", arg, owners[i], rel, arg)
		}
	}
	return nil
}

// errAt is c.Err for a token read earlier, at pos.
func errAt(pos, msg string) error {
	return errors.New(pos + " - Error during parsing: " + msg)
}

// pos is the file:line of the current token, as CoreDNS prints it in errors.
func pos(c *caddy.Controller) string {
	return fmt.Sprintf("%s:%d", c.File(), c.Line())
}
