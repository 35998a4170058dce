package corefile

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// property reads one policy property (the dispenser stands on its name) into pol. It returns
// false if the token is not a property name.
func (p *parser) property(pol *Policy) (bool, error) {
	c := p.c
	tag := strings.ToLower(c.Val())
	switch tag {
	case caa.TagIssue, caa.TagIssueWild, caa.TagIodef, caa.TagContactEmail, caa.TagContactPhone, "record":
	case "acknowledge":
		at := pos(c)
		args, err := p.args()
		if err != nil {
			return true, err
		}
		return true, p.acknowledge(at, args, pol)
	case "persist":
		at := pos(c)
		args, err := p.args()
		if err != nil {
			return true, err
		}
		l, err := parsePersist(args)
		if err != nil {
			return true, c.Err(err.Error())
		}
		for _, q := range pol.Persist {
			if q.Issuer == l.Issuer && q.Account == l.Account {
				return true, c.Errf("persist %s %s is declared twice for this owner (first at %s); remove one", l.Issuer, l.Account, q.Pos)
			}
		}
		l.Pos = at
		pol.Persist = append(pol.Persist, l)
		return true, nil
	default:
		return false, nil
	}
	pr := Property{Tag: tag, Pos: pos(c)}
	args, err := p.args()
	if err != nil {
		return true, err
	}
	switch tag {
	case caa.TagIssue, caa.TagIssueWild:
		v, err := issueValueFromArgs(args)
		if err != nil {
			return true, c.Errf("%s: %v", tag, err)
		}
		pr.Value = v
	case caa.TagIodef:
		if len(args) != 1 {
			return true, c.Errf("iodef takes one URL: iodef mailto:security@example.org")
		}
		insecure, err := caa.CheckIodef(args[0])
		if err != nil {
			return true, c.Err(err.Error())
		}
		if insecure {
			p.warnf(pr.Pos, "iodef %q sends incident reports over plain http; prefer https:", args[0])
		}
		pr.Value = args[0]
	case caa.TagContactEmail:
		if len(args) != 1 {
			return true, c.Errf("contactemail takes one address: contactemail security@example.org")
		}
		if err := caa.CheckContactEmail(args[0]); err != nil {
			return true, c.Err(err.Error())
		}
		pr.Value = args[0]
	case caa.TagContactPhone:
		if len(args) != 1 {
			return true, c.Errf("contactphone takes one number without spaces: contactphone +1-555-0100")
		}
		if err := caa.CheckContactPhone(args[0]); err != nil {
			return true, c.Err(err.Error())
		}
		pr.Value = args[0]
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
		pr.Flag, pr.Tag, pr.Value = uint8(f), args[1], args[2]
	}
	if err := checkPackable(pr); err != nil {
		return true, c.Err(err.Error())
	}
	for _, q := range pol.Props {
		if q.Flag == pr.Flag && strings.EqualFold(q.Tag, pr.Tag) && q.Value == pr.Value {
			return true, c.Errf("%s %q is declared twice for this owner (first at %s); remove one", pr.Tag, pr.Value, q.Pos)
		}
	}
	pol.Props = append(pol.Props, pr)
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

// checkPackable fails for a property whose record cannot be sent: miekg/dns packs a CAA value of
// at most 1,025 bytes (fewer when it holds escapes).
func checkPackable(pr Property) error {
	if len(pr.Value) <= 255 && !strings.Contains(pr.Value, `\`) {
		return nil
	}
	rr := &dns.CAA{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeCAA, Class: dns.ClassINET}, Flag: pr.Flag, Tag: pr.Tag, Value: pr.Value}
	if _, err := dns.PackRR(rr, make([]byte, dns.MaxMsgSize), 0, nil, false); err != nil {
		return fmt.Errorf("%s value of %d bytes cannot be sent in a CAA record (%v): DNS servers pack values of at most 1,025 bytes; shorten it", pr.Tag, len(pr.Value), err)
	}
	return nil
}

// parsePersist reads the arguments of persist: CA ACCOUNTURI [wildcard] [until TIME], TIME an
// RFC 3339 time or UNIX seconds.
func parsePersist(args []string) (Persist, error) {
	var l Persist
	if len(args) < 2 {
		return l, fmt.Errorf("persist takes CA ACCOUNTURI [wildcard] [until TIME]: persist letsencrypt.org https://acme-v02.api.letsencrypt.org/acme/acct/123456")
	}
	v, err := caa.ParseIssueValue(strings.ToLower(strings.TrimSuffix(args[0], ".")))
	if err != nil || v.Issuer == "" || len(v.Params) > 0 {
		return l, fmt.Errorf("persist: %q is not a CA identifier such as letsencrypt.org", args[0])
	}
	if err := caa.CheckACMEAccountURI(args[1]); err != nil {
		return l, fmt.Errorf("persist: %v", err)
	}
	l.Issuer, l.Account = v.Issuer, args[1]
	for rest := args[2:]; len(rest) > 0; {
		switch strings.ToLower(rest[0]) {
		case "wildcard":
			l.Wildcard, rest = true, rest[1:]
		case "until":
			if len(rest) < 2 {
				return l, fmt.Errorf("persist: until needs a time, as in until 2027-12-31T00:00:00Z or until 1830297600")
			}
			if t, err := time.Parse(time.RFC3339, rest[1]); err == nil {
				l.Until = t.Unix()
			} else if n, err := strconv.ParseInt(rest[1], 10, 64); err == nil && n > 0 {
				l.Until = n
			} else {
				return l, fmt.Errorf("persist: until %q is neither an RFC 3339 time (2027-12-31T00:00:00Z) nor UNIX seconds", rest[1])
			}
			rest = rest[2:]
		default:
			return l, fmt.Errorf("persist: %q is neither wildcard nor until TIME", rest[0])
		}
	}
	return l, nil
}

// nameBlock reads "name NAME [NAME...] { properties }"; the dispenser stands on "name".
// coredns/caddy has no nested blocks, so the inner braces are read here.
// zones are the zones a relative name is completed with: the block's, or a zone block's one.
func (p *parser) nameBlock(zones []string) error {
	c := p.c
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
	pol := Policy{Pos: at}
	p.inName, p.closed = true, false
	defer func() { p.inName = false }()
	for {
		if !c.Next() {
			return c.EOFErr()
		}
		switch strings.ToLower(c.Val()) {
		case "}":
			return p.closeName(args[0], owners, pol)
		case "{", "name":
			return c.Errf("name blocks cannot be nested; list every owner on the outer name line")
		}
		ok, err := p.property(&pol)
		if err != nil {
			return err
		}
		if !ok {
			return c.Errf("unknown property %q in a name block; a name block takes %s", c.Val(), propertyNames)
		}
		if p.closed {
			return p.closeName(args[0], owners, pol)
		}
	}
}

// closeName stores the policy pol of a name block for each of its owners.
func (p *parser) closeName(first string, owners []string, pol Policy) error {
	if len(pol.Props) == 0 && len(pol.Persist) == 0 {
		return p.c.Errf("name %s has an empty block; add issue, issuewild, iodef... or remove it", first)
	}
	for _, o := range owners {
		if prev, dup := p.b.Names[o]; dup {
			return p.c.Errf("name %s is declared twice (first at %s); merge the two blocks", o, prev.Pos)
		}
		p.b.Names[o] = pol
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
