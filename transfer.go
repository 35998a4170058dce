package caapolicy

import (
	"context"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// Transfer implements transfer.Transferer for caapolicy's zones, so that secondaries serve
// exactly what caapolicy serves. It wraps the zone data's own transfer (file, auto, secondary:
// the first other Transferer of the server block that is authoritative for the zone) and
// rewrites its stream: every CAA RRset becomes what a CAA query at that owner returns (policy,
// zone-data records merged, partner records), policy owners the zone data lacks are added, and
// the first and last SOA carry the served serial (serial.go). An IXFR for the served serial gets
// the single SOA; any other gets the whole zone.
func (c *CAAPolicy) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	h := c.forZone(zone)
	if h == nil {
		return nil, transfer.ErrNotAuthoritative
	}
	zone = lowerString(dns.Fqdn(zone))
	for _, t := range h.transferers {
		src, err := t.Transfer(zone, 0) // 0: the whole zone, whatever serial the client has
		if err == transfer.ErrNotAuthoritative {
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make(chan []dns.RR, 256) // a buffer, so the hop through this goroutine rarely blocks
		go h.rewriteTransfer(zone, serial, src, out)
		return out, nil
	}
	return nil, transfer.ErrNotAuthoritative
}

// forZone returns the caapolicy block of this server block whose zones hold zone: one of its
// own, or a zone below them that the zone data serves (a customer zone `auto` found under
// `caapolicy .`). Transfer asks only the first caapolicy handler, which answers for the others;
// blocks never overlap (guards.go), so at most one holds the zone. Whether the zone exists is the
// zone data's to say: its transfer answers ErrNotAuthoritative otherwise.
func (c *CAAPolicy) forZone(zone string) *CAAPolicy {
	if c.holds(zone) {
		return c
	}
	for _, h := range c.group {
		if h.holds(zone) {
			return h
		}
	}
	return nil
}

// inTransfer reports whether the lowercase name n belongs in the transfer of zone: at or below
// it, and not in a more specific zone of the block, which has its own transfer.
func (c *CAAPolicy) inTransfer(n, zone string) bool {
	bz, ok := c.zoneOf([]byte(n))
	return ok && dnsname.AtOrBelow(n, zone) && dnsname.AtOrBelow(zone, bz)
}

// rewriteTransfer streams the zone data's transfer src to out, rewritten as Transfer says. CAA
// records are held back as they come (a name may come in several groups: file sends the apex's
// SOA and NS first and its other records later) and every CAA RRset is sent, as caapolicy
// serves it, before the closing SOA. Secondaries take a transfer's records in any order.
func (c *CAAPolicy) rewriteTransfer(zone string, serial uint32, src <-chan []dns.RR, out chan<- []dns.RR) {
	defer close(out)
	defer func() {
		for range src { // let the zone data's goroutine finish if we stop early
		}
	}()
	x := transferRewrite{c: c, zone: zone, zoneCAA: map[string][]*dns.CAA{}, cname: map[string]bool{}}
	opened := false
	for rrs := range src {
		if len(rrs) == 0 {
			continue
		}
		if soa, ok := rrs[0].(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, zone) {
			served := c.servedSOA(soa)
			if !opened {
				opened = true
				if serial != 0 && serial == served.Serial {
					out <- []dns.RR{served} // IXFR from the current serial: nothing to send
					return
				}
				rrs = append([]dns.RR{served}, rrs[1:]...)
			} else if len(rrs) == 1 {
				if caa := x.caaRRsets(); len(caa) > 0 {
					out <- caa
				}
				out <- []dns.RR{served}
				continue
			}
		}
		out <- x.hold(rrs)
	}
}

// transferRewrite is the state of one rewritten transfer.
type transferRewrite struct {
	c       *CAAPolicy
	zone    string
	zoneCAA map[string][]*dns.CAA // the zone data's CAA records held back, by lowercase owner
	names   []string              // the owners of zoneCAA, in the order met
	cname   map[string]bool       // names holding a CNAME
	cuts    []string              // delegation points (NS records below the apex)
}

// hold returns one group of the stream without its CAA records and their signatures, which it
// keeps, and notes the CNAMEs and delegations the group holds. A group with none
// of those passes through as it is, with no allocation.
func (x *transferRewrite) hold(rrs []dns.RR) []dns.RR {
	keep := true
	for _, rr := range rrs {
		h := rr.Header()
		switch h.Rrtype {
		case dns.TypeCAA:
			keep = false
		case dns.TypeRRSIG:
			keep = keep && rr.(*dns.RRSIG).TypeCovered != dns.TypeCAA && !x.persisted(rr)
		case dns.TypeTXT:
			keep = keep && !x.persisted(rr)
		case dns.TypeCNAME:
			x.cname[lowerString(h.Name)] = true
		case dns.TypeNS:
			if n := lowerString(h.Name); n != x.zone && !slices.Contains(x.cuts, n) {
				x.cuts = append(x.cuts, n)
			}
		}
	}
	if keep {
		return rrs
	}
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.CAA:
			n := lowerString(r.Hdr.Name)
			if _, ok := x.zoneCAA[n]; !ok {
				x.names = append(x.names, n)
			}
			x.zoneCAA[n] = append(x.zoneCAA[n], r)
			continue
		case *dns.RRSIG:
			if r.TypeCovered == dns.TypeCAA || x.persisted(rr) {
				continue // the RRset may change: an on-line signer signs what is served
			}
		case *dns.TXT:
			if x.persisted(rr) {
				continue // the policy's dns-persist-01 records are served there instead
			}
		}
		out = append(out, rr)
	}
	return out
}

// persisted reports whether rr is a TXT record, or a signature over one, at a name where the
// policy publishes dns-persist-01 records (persist.go): the zone data's are not served there.
func (x *transferRewrite) persisted(rr dns.RR) bool {
	if x.c.persist == nil {
		return false
	}
	if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered != dns.TypeTXT {
		return false
	}
	_, ok := x.c.persist[lowerString(rr.Header().Name)]
	return ok
}

// caaRRsets returns every CAA RRset of the zone as caapolicy serves it: for each policy owner
// and each name with zone-data CAA, the RRset a CAA query there is answered with (the served
// view, view.go), so that a transfer can never disagree with the answers. Names where the zone
// data overrides CAA (a CNAME, or a delegation at or above them) keep the zone data's records as
// they are, as the zone data's own transfer carries them; a name the served view gives no RRset
// (a policy owner that fallthrough leaves out) gets none. A name whose answer fails keeps the
// zone data's records, and the failure is logged.
func (x *transferRewrite) caaRRsets() []dns.RR {
	c := x.c
	var out []dns.RR
	names := append([]string(nil), x.names...)
	for _, n := range c.ownersIn(x.zone) {
		if _, ok := x.zoneCAA[n]; !ok {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if !x.overridden(n) {
			rrset, err := c.servedRRset(context.Background(), n)
			if err == nil {
				out = append(out, rrset...)
				continue
			}
			log.Warningf("transfer of %s: %v; the zone data's CAA records at %s are sent as they are", x.zone, err, n)
		}
		for _, r := range x.zoneCAA[n] {
			out = append(out, r)
		}
	}
	// The policy's dns-persist-01 records of this zone, as TXT queries are answered.
	for _, n := range slices.Sorted(maps.Keys(c.persist)) {
		if c.inTransfer(n, x.zone) && !x.overridden(n) {
			out = append(out, c.persist[n]...)
		}
	}
	return out
}

// overridden reports whether the zone data overrides CAA at n: a CNAME there, or a delegation
// at or above it (those records belong to another zone).
func (x *transferRewrite) overridden(n string) bool {
	if x.cname[n] {
		return true
	}
	for _, cut := range x.cuts {
		if dnsname.AtOrBelow(n, cut) {
			return true
		}
	}
	return false
}

// startTransfers runs at start-up: it finds the zone data's Transferers, checks the policy serial
// (serial.go) against this process's last load and, for each zone of the block whose served
// serial may have moved, sends NOTIFY to the transfer plugin's
// targets once this instance answers SOA with the new serial. It fails where secondaries would
// be left with the old policy (serial.go): the start-up or reload is refused.
func (c *CAAPolicy) startTransfers(cfg *dnsserver.Config) error {
	c.transferers = nil
	for _, p := range cfg.Handlers() {
		if t, ok := p.(transfer.Transferer); ok && p.Name() != name {
			c.transferers = append(c.transferers, t)
		}
	}
	t, _ := cfg.Handler("transfer").(*transfer.Transfer)
	var moved []string
	for _, z := range c.Zones {
		m, err := loadSerial(z+"@"+cfg.Port, z, c.fingerprint(z), c.serial, t != nil)
		if err != nil {
			return corefile.ErrAt(c.pos, err.Error())
		}
		if m {
			moved = append(moved, z)
		}
	}
	if t == nil || len(moved) == 0 {
		return nil
	}
	// The serial this instance will serve, from the zone data asked now, while the other
	// plugins' start-up hooks run one after the other: the waiting goroutine must not touch
	// the chain before the server runs.
	want := map[string]uint32{}
	for _, z := range moved {
		if s, ok := c.expectedSerial(z); ok {
			want[z] = s
		}
	}
	addr := net.JoinHostPort(loopbackFor(cfg.ListenHosts), cfg.Port)
	go c.notifyWhenServing(t, addr, want)
	return nil
}

// expectedSerial is the serial this instance serves for zone: the zone data's SOA serial plus
// this instance's offset.
func (c *CAAPolicy) expectedSerial(zone string) (uint32, bool) {
	q := new(dns.Msg).SetQuestion(zone, dns.TypeSOA)
	zm, _, _ := c.ask(context.Background(), &captureWriter{}, q)
	if zm == nil || len(zm.Answer) == 0 {
		return 0, false
	}
	zsoa, ok := zm.Answer[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return c.servedSOA(zsoa).Serial, true
}

// loopbackFor returns the address to ask this server on: its first listen address, or
// 127.0.0.1 when it listens on every address.
func loopbackFor(hosts []string) string {
	for _, h := range hosts {
		if h != "" && h != "0.0.0.0" && h != "::" {
			return h
		}
	}
	return "127.0.0.1"
}

// notifyWhenServing waits until the server at addr answers SOA for each zone with the serial this
// instance serves (the new instance is serving), then has the transfer plugin send NOTIFY for it.
// A NOTIFY sent earlier could reach a secondary that then asks the old instance, and waits for
// its next refresh. It gives up when the instance stops, or after a minute (the zone data may
// have changed its serial meanwhile: its own NOTIFY covers that).
func (c *CAAPolicy) notifyWhenServing(t *transfer.Transfer, addr string, want map[string]uint32) {
	client := &dns.Client{Timeout: time.Second}
	deadline := time.Now().Add(time.Minute)
	zones := make([]string, 0, len(want))
	for z := range want {
		zones = append(zones, z)
	}
	slices.Sort(zones)
	for _, z := range zones {
		for {
			select {
			case <-c.stopped:
				return
			default:
			}
			m := new(dns.Msg).SetQuestion(z, dns.TypeSOA)
			if r, _, err := client.Exchange(m, addr); err == nil && len(r.Answer) > 0 {
				if soa, ok := r.Answer[0].(*dns.SOA); ok && soa.Serial == want[z] {
					if err := t.Notify(z); err != nil {
						log.Warningf("NOTIFY for %s after the policy changed: %v", z, err)
					} else {
						log.Infof("policy for %s changed: served serial %d, secondaries notified", z, soa.Serial)
					}
					break
				}
			}
			if time.Now().After(deadline) {
				log.Warningf("NOTIFY for %s not sent: the server did not answer SOA with serial %d within a minute", z, want[z])
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
