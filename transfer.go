package caapolicy

import (
	"context"
	"net"
	"slices"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/dnsname"
	"github.com/caapolicy/caapolicy/internal/served"

	"github.com/miekg/dns"
)

// Transfer implements transfer.Transferer for caapolicy's zones, so that secondaries serve
// exactly what caapolicy serves. It wraps the zone data's own transfer (file, auto, secondary:
// the first other Transferer of the server block that is authoritative for the zone) and has the
// served view rewrite its stream (internal/served, RewriteTransfer). An IXFR for the served
// serial gets the single SOA; any other gets the whole zone.
func (c *CAAPolicy) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	h := c.forZone(zone)
	if h == nil {
		return nil, transfer.ErrNotAuthoritative
	}
	zone = dnsname.LowerString(dns.Fqdn(zone))
	for _, t := range h.transferers {
		src, err := t.Transfer(zone, 0) // 0: the whole zone, whatever serial the client has
		if err == transfer.ErrNotAuthoritative {
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make(chan []dns.RR, 256) // a buffer, so the hop through this goroutine rarely blocks
		go h.view.RewriteTransfer(zone, serial, src, out)
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
	if c.view.Holds(zone) {
		return c
	}
	for _, h := range c.group {
		if h.view.Holds(zone) {
			return h
		}
	}
	return nil
}

// startTransfers runs at start-up: it finds the zone data's Transferers, checks the policy serial
// (internal/served, serial.go) against this process's last load and, for each zone of the block whose served
// serial may have moved, sends NOTIFY to the transfer plugin's
// targets once this instance answers SOA with the new serial. It fails where secondaries would
// be left with the old policy (internal/served, serial.go): the start-up or reload is refused.
func (c *CAAPolicy) startTransfers(cfg *dnsserver.Config) error {
	c.transferers = nil
	for _, p := range cfg.Handlers() {
		if t, ok := p.(transfer.Transferer); ok && p.Name() != name {
			c.transferers = append(c.transferers, t)
		}
	}
	t, _ := cfg.Handler("transfer").(*transfer.Transfer)
	var moved []string
	for _, z := range c.view.Zones() {
		m, err := served.LoadSerial(z+"@"+cfg.Port, z, c.view.Fingerprint(z), c.view.Serial(), t != nil)
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
		if s, ok := c.view.ServedSerial(context.Background(), z); ok {
			want[z] = s
		}
	}
	addr := net.JoinHostPort(loopbackFor(cfg.ListenHosts), cfg.Port)
	go c.notifyWhenServing(t, addr, want)
	return nil
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
