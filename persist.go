package caapolicy

import (
	"context"
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

// servePersist answers a TXT query at a name holding the policy's dns-persist-01 records with
// them; a TXT query at another _validation-persist name of the zones goes to the zone data and
// its answer is watched as well (a CA validating with dns-persist-01 asks it, whoever publishes
// the record); any other passes on. Only TXT queries in a block with persist lines, and TXT
// queries at _validation-persist names, come here.
func (c *CAAPolicy) servePersist(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	var buf [256]byte
	rrs, ok := c.persist[string(dnsname.Lower(buf[:0], r.Question[0].Name))]
	if !ok {
		if isPersistName(r.Question[0].Name) && c.holds(r.Question[0].Name) {
			return c.watchPersist(ctx, w, r)
		}
		return c.passOther(ctx, w, r)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	for _, rr := range rrs {
		x := dns.Copy(rr)
		x.Header().Name = r.Question[0].Name
		m.Answer = append(m.Answer, x)
	}
	w.WriteMsg(m)
	s := served{owner: strings.ToLower(r.Question[0].Name), policy: len(m.Answer), msg: m}
	c.recordPersist(ctx, w, r, &s, m.Rcode, sourcePersist)
	return dns.RcodeSuccess, nil
}

// isPersistName reports whether the first label of qname, in any case, is _validation-persist:
// one length test and one comparison of 19 bytes, without allocating.
func isPersistName(qname string) bool {
	const l = len(caa.PersistLabel)
	return len(qname) > l && qname[l] == '.' && strings.EqualFold(qname[:l], caa.PersistLabel)
}

// watchPersist passes a TXT query at a _validation-persist name to the zone data, as any other
// TXT query goes (passOther), and watches the answer written: logged and counted as the CA's
// check of the name it validates, with source passthrough.
func (c *CAAPolicy) watchPersist(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	sw := seenWriter{ResponseWriter: w}
	rcode, err := c.passOther(ctx, &sw, r)
	if sw.msg == nil {
		return rcode, err // nothing was written: the server answers with the error
	}
	var s served
	for _, rr := range sw.msg.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, r.Question[0].Name) {
			s.owner = t.Hdr.Name
			s.zone++
		}
	}
	s.msg = sw.msg
	c.recordPersist(ctx, w, r, &s, sw.msg.Rcode, sourcePassthrough)
	return rcode, err
}

// seenWriter writes through to the client and keeps the message written.
type seenWriter struct {
	dns.ResponseWriter
	msg *dns.Msg
}

// WriteMsg implements dns.ResponseWriter.
func (w *seenWriter) WriteMsg(m *dns.Msg) error {
	w.msg = m
	return w.ResponseWriter.WriteMsg(m)
}
