package served

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corefile"

	"github.com/miekg/dns"
)

// Owner is a name with a declared policy. Its records are built once at setup: the policy, then
// the partner records the policy alone calls for. Per query only the owner name is filled in.
type Owner struct {
	name    string // lowercase, fully qualified
	scope   *scope // the settings it is served with: the block's or a zone block's
	records []dns.CAA
	nPolicy int // records[:nPolicy] is the policy, the rest partner records
	pos     string
	notes   partnerNotes // what stops partner certificates at the policy alone
	// lockIssue and lockWild: the policy locks issue (issuewild) down, every value of the tag
	// naming no CA. Zone data never reopens what the operator locked (answer.go, mergeRecord).
	lockIssue, lockWild bool
	acked               bool // its warnings are acknowledged as intended (internal/corefile, acknowledge.go)
	// merged holds the merged reply last built here from file's zone data, for queries without
	// and with the DO bit, served while the zone holds the same data (mergecache.go).
	merged [2]atomic.Pointer[mergedReply]
}

// newOwner builds the records served at name for p, with the TTL and partner records of sc.
func newOwner(name string, p corefile.Policy, sc *scope) *Owner {
	o := &Owner{name: name, scope: sc, pos: p.Pos, nPolicy: len(p.Props), acked: p.Ack != ""}
	for _, pr := range p.Props {
		o.records = append(o.records, dns.CAA{Flag: pr.Flag, Tag: pr.Tag, Value: pr.Value})
	}
	var issue, wild caaKind
	for i := range o.records {
		switch strings.ToLower(o.records[i].Tag) {
		case caa.TagIssue:
			issue.add(o.records[i].Value)
		case caa.TagIssueWild:
			wild.add(o.records[i].Value)
		}
	}
	o.lockIssue, o.lockWild = issue.present && !issue.authorizes, wild.present && !wild.authorizes
	add, notes := sc.partners.additions(o.records)
	o.records, o.notes = append(o.records, add...), notes
	for i := range o.records {
		o.records[i].Hdr = dns.RR_Header{Name: name, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: sc.ttl}
	}
	return o
}

// locks reports whether the policy of o locks the tag (issue or issuewild) down.
func (o *Owner) locks(tag string) bool {
	switch strings.ToLower(tag) {
	case caa.TagIssue:
		return o.lockIssue
	case caa.TagIssueWild:
		return o.lockWild
	}
	return false
}

// policy returns the policy records of o, without partner records.
func (o *Owner) policy() []dns.CAA { return o.records[:o.nPolicy] }

// sameProperty reports whether two CAA records carry the same property: the same flags, the same
// tag (tags match case-insensitively, RFC 8659 section 4.1) and the same value.
func sameProperty(a, b *dns.CAA) bool {
	return a.Flag == b.Flag && a.Value == b.Value && strings.EqualFold(a.Tag, b.Tag)
}

// answer describes an answer that holds exactly the prepared records of o.
func (o *Owner) answer() Answer {
	return Answer{Owner: o.name, Policy: o.nPolicy, Partners: len(o.records) - o.nPolicy}
}

// checkRRsetSize fails for an owner whose RRset (policy and partner records) does not fit in a
// DNS message over TCP, 65,535 bytes: no client could receive it.
func checkRRsetSize(o *Owner) error {
	total := 0
	for i := range o.records {
		total += len(o.records[i].Value) + len(o.records[i].Tag) + 16
	}
	if total < 60000 {
		return nil
	}
	m := new(dns.Msg).SetQuestion(o.name, dns.TypeCAA)
	m.Compress = true
	m.Answer = rrPointers(o.records)
	if n := m.Len(); n > dns.MaxMsgSize {
		return corefile.ErrAt(o.pos, fmt.Sprintf("the CAA RRset at %s (policy and partner records) is %d bytes, more than a DNS message over TCP holds (65,535 bytes): no CA could read it; split it across names or shorten its values", o.name, n))
	}
	return nil
}
