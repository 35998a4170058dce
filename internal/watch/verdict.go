package watch

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"
)

// checkVerdict is what a closed event found: the Relevant RRset of the name inside caapolicy's
// zones and, for an attributed CA, whether it may issue for the name and for its wildcard.
type checkVerdict struct {
	relevant       caa.Result
	known          bool
	plain, wild    caa.Result
	authorized     bool // for the name or for its wildcard
	authorizedWild bool
	relevantText   []byte // appendRelevant(relevant), when the writer has it at hand
}

// verdict evaluates a check over what the block serves now (Block.Lookup: policy, zone data,
// partners). The
// account and validation method are unknown, so properties bound to them count as authorizing.
func (l *Log) verdict(ev *checkEvent) checkVerdict {
	var v checkVerdict
	mode := caa.ModeRFC
	if ev.ca == "letsencrypt.org" {
		mode = caa.ModeLetsEncrypt
	}
	lookup := func(_ context.Context, n string) (caa.Step, error) { return l.eventLookup(ev, n) }
	req := caa.Request{Name: ev.name, CA: ev.ca, Mode: mode, AnyAccount: true}
	if ev.ca == UnknownCA {
		v.relevant = l.relevantOf(ev, lookup)
		return v
	}
	v.known = true
	v.plain = caa.Check(context.Background(), req, lookup)
	req.Name = "*." + strings.TrimSuffix(ev.name, ".")
	v.wild = caa.Check(context.Background(), req, lookup)
	v.relevant = v.plain
	v.authorized, v.authorizedWild = v.plain.Allowed, v.wild.Allowed
	return v
}

// closeCheck logs a closed check event and counts it.
func (l *Log) closeCheck(ev *checkEvent) {
	v := l.verdict(ev)
	unauthorized := v.known && !v.authorized && !v.authorizedWild
	l.block.Metrics.CheckClosed(ev.server, ev.label, ev.view, ev.ca, ev.multiPerspective(), unauthorized)
	switch {
	case l.cfg.JSON:
		l.writeJSON(checkJSON(ev, v, unauthorized, l.cfg.Node))
	case l.viaCoreDNSJSON(): // CoreDNS's own JSON logging formats each line
		l.flush()
		if unauthorized {
			l.pipe.log.Warning(string(appendCheckText(nil, ev, v, l.cfg.Node)))
		} else {
			l.pipe.log.Info(string(appendCheckText(nil, ev, v, l.cfg.Node)))
		}
	default: // batched with the query lines, as CoreDNS's log would print them
		prefix := l.pipe.info
		if unauthorized {
			prefix = l.pipe.warn
		}
		v.relevantText = l.relevantText(v.relevant)
		l.sink.batch = append(appendCheckText(append(l.sink.batch, prefix...), ev, v, l.cfg.Node), '\n')
	}
}

// eventLookup is the climb's lookup for the verdict of ev: the answer the event's own queries got
// for n (what the CA saw), else what caapolicy serves now, remembered for a window so that a
// parent shared by many checks is looked up once.
//
// Above the zone the event's queries were answered from (ev.apex), the names belong to other
// zones and, for a customer zone under a catch-all block, to other customers or to a registry:
// the climb stops there (Outside), so that the relevant owner never lies outside the zone.
func (l *Log) eventLookup(ev *checkEvent, n string) (caa.Step, error) {
	if ev.apex != "" && !dnsname.AtOrBelow(dnsname.LowerString(n), ev.apex) {
		return caa.Step{Name: n, Outside: true}, nil
	}
	for i := range ev.answers {
		if strings.EqualFold(ev.answers[i].Name, n) {
			return ev.answers[i], nil
		}
	}
	var buf [256]byte
	key := dnsname.Lower(buf[:0], n)
	if s, ok := l.memo[string(key)]; ok { // a lookup that does not allocate
		return s, nil
	}
	s, err := l.block.Lookup(context.Background(), n)
	if err == nil {
		if len(l.memo) >= maxMemo {
			l.clearMemo()
		}
		l.memo[string(key)] = s
	}
	return s, err
}

// relevantOf is caa.Relevant(ev.name) for an event of unattributed sources, whose verdict is its
// Relevant RRset alone. It skips the names the event's own queries found without CAA; from the
// first name they did not ask, the climb is the same for every event and is remembered, with the
// lookups, for a window: a flood of distinct names below one apex climbs once. Where the event's
// answers say more (a CAA RRset, a referral, a name above the first one not asked), it climbs
// as caa.Relevant does.
func (l *Log) relevantOf(ev *checkEvent, lookup caa.Lookup) caa.Result {
	n, skipped := caa.ClimbStart(ev.name), 0
	for ; n != "."; n = caa.ParentName(n) {
		i := slices.IndexFunc(ev.answers, func(s caa.Step) bool { return strings.EqualFold(s.Name, n) })
		if i < 0 {
			break
		}
		if s := ev.answers[i]; len(s.RRset) > 0 || s.Outside || s.Delegation != nil {
			return caa.Relevant(context.Background(), ev.name, lookup)
		}
		skipped++
	}
	if n == "." || skipped != len(ev.answers) {
		return caa.Relevant(context.Background(), ev.name, lookup)
	}
	var buf [256]byte
	key := dnsname.Lower(buf[:0], n)
	if r, ok := l.relevant[string(key)]; ok {
		return r
	}
	r := caa.Relevant(context.Background(), n, lookup)
	if len(l.relevant) >= maxMemo {
		l.clearMemo()
	}
	l.relevant[string(key)] = r
	return r
}

// maxMemo bounds the lookups the log writer remembers between two clearings.
const maxMemo = 4096

func checkSource(ev *checkEvent) string { return ev.ca }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// relevantText returns appendRelevant(r), from the last one made when r is the same RRset (one
// remembered by relevantOf, shared by a flood's events): the records are formatted once.
func (l *Log) relevantText(r caa.Result) []byte {
	if r.Err != nil || len(r.RRset) == 0 {
		return nil
	}
	t := &l.lastRelevant
	if t.owner != r.Owner || t.first != &r.RRset[0] || t.n != len(r.RRset) {
		t.owner, t.first, t.n = r.Owner, &r.RRset[0], len(r.RRset)
		t.text = appendRelevant(t.text[:0], r)
	}
	return t.text
}

// appendRelevant appends the Relevant RRset of a climb: its owner and records, or why there is none.
func appendRelevant(b []byte, r caa.Result) []byte {
	switch {
	case r.Err != nil:
		return append(append(b, "lookup failed: "...), r.Err.Error()...)
	case r.Owner == "":
		return append(b, "none inside the zone"...)
	}
	b = append(append(b, r.Owner...), " ["...)
	for i := range r.RRset {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = caa.AppendText(b, &r.RRset[i])
	}
	return append(b, ']')
}

// appendCheckText appends the text log line of a check event to b:
//
//	check by letsencrypt.org of "www.example.org." (zone example.org.): 4 queries from 2 addresses from 2 networks, multi-perspective, in 0.812s; relevant example.org. [0 issue "letsencrypt.org"]; authorized yes, wildcard no; node=ns1 check=5f0c9a1e3b7d2c64
func appendCheckText(b []byte, ev *checkEvent, v checkVerdict, node string) []byte {
	b = append(b, "check by "...)
	b = append(b, checkSource(ev)...)
	b = append(b, " of "...)
	b = strconv.AppendQuote(b, escapeName(ev.name))
	b = append(b, " (zone "...)
	b = append(b, ev.apex...)
	b = append(b, "): "...)
	b = strconv.AppendInt(b, int64(ev.queries), 10)
	b = append(b, " queries from "...)
	b = strconv.AppendInt(b, int64(len(ev.addrs)), 10)
	b = append(b, " addresses from "...)
	b = strconv.AppendInt(b, int64(len(ev.nets)), 10)
	b = append(b, " networks"...)
	if ev.multiPerspective() {
		b = append(b, ", multi-perspective,"...)
	}
	b = append(b, " in "...)
	b = strconv.AppendFloat(b, ev.last.Sub(ev.first).Seconds(), 'f', 3, 64)
	b = append(b, "s; relevant "...)
	if v.relevantText != nil {
		b = append(b, v.relevantText...)
	} else {
		b = appendRelevant(b, v.relevant)
	}
	switch {
	case !v.known:
	case !v.authorized && !v.authorizedWild:
		b = append(b, "; NOT AUTHORIZED for the name or its wildcard: "...)
		b = append(b, v.plain.Reason...)
	default:
		b = append(b, "; authorized "...)
		b = append(b, yesNo(v.authorized)...)
		b = append(b, ", wildcard "...)
		b = append(b, yesNo(v.authorizedWild)...)
	}
	return appendNodeCheck(b, "; node=", node, ev.key)
}

// CheckRecord is the JSON form of a check event's line.
type CheckRecord struct {
	Type             string   `json:"type"` // "check"
	Level            string   `json:"level"`
	Time             string   `json:"time"` // the first query
	CA               string   `json:"ca"`
	Name             string   `json:"name"`
	Zone             string   `json:"zone"`
	Queries          int      `json:"queries"`
	Addresses        int      `json:"addresses"`
	Networks         int      `json:"networks"` // distinct source /24 (IPv4) and /48 (IPv6) networks
	MultiPerspective bool     `json:"multi_perspective"`
	SourceNetworks   []string `json:"source_networks"`
	DurationMS       int64    `json:"duration_ms"`
	RelevantOwner    string   `json:"relevant_owner"`
	RelevantRRset    []string `json:"relevant_rrset"`
	Authorized       *bool    `json:"authorized,omitempty"`
	AuthorizedWild   *bool    `json:"authorized_wildcard,omitempty"`
	Reason           string   `json:"reason,omitempty"`
	Server           string   `json:"server"`
	View             string   `json:"view,omitempty"`
	Node             string   `json:"node"`  // the server of the fleet that saw the check
	Check            string   `json:"check"` // the same for this check on every node (checkKey)
}

func checkJSON(ev *checkEvent, v checkVerdict, unauthorized bool, node string) CheckRecord {
	r := CheckRecord{
		Type: "check", Level: "info", Time: ev.first.UTC().Format(logTime), CA: ev.ca,
		Name: escapeName(ev.name), Zone: ev.apex, Queries: ev.queries, Addresses: len(ev.addrs),
		Networks: len(ev.nets), MultiPerspective: ev.multiPerspective(), SourceNetworks: []string{},
		DurationMS: ev.last.Sub(ev.first).Milliseconds(), RelevantOwner: v.relevant.Owner, RelevantRRset: []string{},
		Server: ev.server, View: ev.view, Node: node, Check: string(ev.key[:]),
	}
	for _, n := range ev.nets {
		r.SourceNetworks = append(r.SourceNetworks, n.String())
	}
	for i := range v.relevant.RRset {
		r.RelevantRRset = append(r.RelevantRRset, caa.Text(&v.relevant.RRset[i]))
	}
	if v.known {
		r.Authorized, r.AuthorizedWild = &v.authorized, &v.authorizedWild
		r.Reason = v.plain.Reason
		if !v.authorized && v.authorizedWild {
			r.Reason = v.wild.Reason
		}
	}
	if unauthorized {
		r.Level = "warning"
	}
	return r
}
