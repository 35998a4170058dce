package served

import (
	"strconv"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// A persist line (README, Syntax) publishes a dns-persist-01 validation record
// (draft-ietf-acme-dns-persist-02: TXT at _validation-persist.OWNER, "CA; accounturi=URI[;
// policy=wildcard][; persistUntil=UNIXTIME]") and keeps the owner's CAA consistent with it, so
// that the persistent authorization and CAA come from one line and cannot drift: where the
// owner's policy has issue properties that do not let the CA issue for that account with
// dns-persist-01, `issue "CA; accounturi=URI"` is added, and with wildcard, where its issuewild
// properties forbid the wildcard, `issuewild "CA; accounturi=URI"`. A policy without issue
// properties restricts nothing at the owner and gets none. The TXT RRset is the policy's alone
// (zone data's TXT records at that name are not served), exists for every type, and is carried
// in transfers.

// persistTXT is the RDATA of the record that l publishes.
func persistTXT(l corefile.Persist) string {
	s := l.Issuer + "; accounturi=" + l.Account
	if l.Wildcard {
		s += "; policy=wildcard"
	}
	if l.Until != 0 {
		s += "; persistUntil=" + strconv.FormatInt(l.Until, 10)
	}
	return s
}

// withPersist returns p with the CAA properties its persist lines need (see above).
func withPersist(p corefile.Policy, owner string) corefile.Policy {
	if len(p.Persist) == 0 {
		return p
	}
	out := p
	out.Props = append([]corefile.Property(nil), p.Props...)
	for _, l := range p.Persist {
		value := l.Issuer + "; accounturi=" + l.Account
		for _, tag := range []string{caa.TagIssue, caa.TagIssueWild} {
			if tag == caa.TagIssueWild && !l.Wildcard {
				continue
			}
			var rrset []dns.CAA
			has := false
			for _, pr := range out.Props {
				rrset = append(rrset, dns.CAA{Flag: pr.Flag, Tag: pr.Tag, Value: pr.Value})
				has = has || strings.EqualFold(pr.Tag, tag)
			}
			if !has {
				continue // nothing restricts this kind of issuance at the owner
			}
			name := strings.TrimSuffix(owner, ".")
			if tag == caa.TagIssueWild {
				name = "*." + name
			}
			allowed := true
			for _, mode := range []caa.Mode{caa.ModeRFC, caa.ModeLetsEncrypt} {
				req := caa.Request{Name: name, CA: l.Issuer, Account: l.Account, Method: caa.MethodPersist, Mode: mode}
				allowed = allowed && caa.Decide(req, owner, rrset).Allowed
			}
			if !allowed {
				out.Props = append(out.Props, corefile.Property{Tag: tag, Value: value, Pos: l.Pos})
			}
		}
	}
	return out
}

// persistRecords builds the TXT RRsets of the policies' persist lines, by lowercase owner.
func persistRecords(owners map[string]corefile.Policy, scopeOf func([]byte) *scope) map[string][]dns.RR {
	out := map[string][]dns.RR{}
	for owner, p := range owners {
		n := caa.PersistName(owner)
		ttl := scopeOf([]byte(owner)).ttl
		for _, l := range p.Persist {
			out[n] = append(out[n], &dns.TXT{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: []string{persistTXT(l)}})
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// IsPersistName reports whether the first label of qname, in any case, is _validation-persist:
// one length test and one comparison of 19 bytes, without allocating.
func IsPersistName(qname string) bool {
	const l = len(caa.PersistLabel)
	return len(qname) > l && qname[l] == '.' && strings.EqualFold(qname[:l], caa.PersistLabel)
}

// Persists reports whether the block publishes dns-persist-01 records (persist lines).
func (v *View) Persists() bool { return v.persist != nil }

// PersistAnswer returns the reply to the TXT query r at a name where the policy publishes
// dns-persist-01 records: those records, owned by the question name as spelt; nil at any other
// name.
func (v *View) PersistAnswer(r *dns.Msg) *dns.Msg {
	var buf [256]byte
	rrs, ok := v.persist[string(dnsname.Lower(buf[:0], r.Question[0].Name))]
	if !ok {
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	for _, rr := range rrs {
		x := dns.Copy(rr)
		x.Header().Name = r.Question[0].Name
		m.Answer = append(m.Answer, x)
	}
	return m
}
