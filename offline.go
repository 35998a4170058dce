package caapolicy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/served"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// Corefile is a Corefile loaded as CoreDNS loads it, without serving: caddy parses it (imports
// and environment variables expanded), every directive's own setup function runs in the
// server's plugin order, and each server block that holds caapolicy gets its handler chain
// built as the server builds it, with the zone data read from the files its plugins name
// (file's zone files, auto's directory). Nothing listens and no start-up hook runs: no query
// log, no transfers, no NOTIFY.
//
// Its Lookup asks those handler chains, so `caacheck -conf` gets the answers the server would
// give, computed by the same code: every plugin of the block (cache, rewrite, dnssec...), the
// zone data, caapolicy's merge, partners, CNAMEs, delegations and fallthrough. Zone data that
// exists only at run time (secondary's transfers, a backend such as etcd) is empty offline.
type Corefile struct {
	Path    string
	blocks  []*offlineBlock // the server blocks holding caapolicy, in Corefile order
	context caddy.Context   // the load's, which makes the servers
	servers []*dnsserver.Server
}

// offlineBlock is one server block of a Corefile loaded offline that holds caapolicy.
type offlineBlock struct {
	zones    []string // the server block's zones
	cfg      *dnsserver.Config
	policies []*CAAPolicy
}

var (
	// loadMu makes Corefile loads one at a time: setup reports the blocks it builds to loading.
	loadMu  sync.Mutex
	loading atomic.Pointer[Corefile]
)

// noteOffline records, while LoadCorefile runs, a server block a setup call built and the
// context of the load, which makes the servers. Setup runs in LoadCorefile's goroutine; a server
// that starts or reloads in the same process during a load (only tests do both) would be
// recorded too.
func noteOffline(c *caddy.Controller, zones []string, blocks []*CAAPolicy) {
	cf := loading.Load()
	if cf == nil {
		return
	}
	cf.context = c.Context()
	cf.blocks = append(cf.blocks, &offlineBlock{zones: zones, cfg: dnsserver.GetConfig(c), policies: blocks})
}

// LoadCorefile reads the Corefile at path as CoreDNS would (see Corefile). It fails where
// CoreDNS would refuse to start, with the same error: a Corefile mistake names file and line.
// The binary must have caapolicy's directive in place (InsertDirective), as the server has.
func LoadCorefile(path string) (*Corefile, error) {
	contents, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	cf := &Corefile{Path: path}
	loading.Store(cf)
	err = caddy.ValidateAndExecuteDirectives(caddy.CaddyfileInput{Contents: contents, Filepath: path, ServerTypeName: "dns"}, nil, true)
	loading.Store(nil)
	if err != nil {
		return nil, err
	}
	if len(cf.blocks) == 0 {
		return nil, fmt.Errorf("%s has no caapolicy block", path)
	}
	if err := cf.build(); err != nil {
		return nil, err
	}
	return cf, nil
}

// build makes the servers CoreDNS would run, without their listeners: the load's context makes
// them as at start-up (each block's plugins chained, its configuration copied to each of its
// keys, zones and addresses checked for overlap, views). It then loads the zone data a plugin
// loads at start-up (auto walks its directory) and runs caapolicy's own start-up checks.
func (cf *Corefile) build() error {
	made, err := cf.context.MakeServers()
	if err != nil {
		return err
	}
	for _, s := range made {
		if d, ok := s.(*dnsserver.Server); ok {
			cf.servers = append(cf.servers, d)
		}
	}
	slices.SortFunc(cf.servers, func(a, b *dnsserver.Server) int { return strings.Compare(a.Address(), b.Address()) })
	for _, b := range cf.blocks {
		for _, p := range b.cfg.Handlers() {
			if w, ok := p.(interface{ Walk() error }); ok { // auto: the zones of its directory
				if err := w.Walk(); err != nil {
					return plugin.Error(p.Name(), err)
				}
			}
		}
		for _, h := range b.policies {
			if err := h.checkNext(); err != nil {
				return plugin.Error(name, err)
			}
			h.qlog = nil // nothing is logged offline
			h.group = b.policies
		}
	}
	return nil
}

// Warnings returns the start-up warnings of every caapolicy block, in Corefile order.
func (cf *Corefile) Warnings() []string {
	return cf.collect(func(h *CAAPolicy) []string { return h.warnings })
}

// collect returns the lines lines gives for every caapolicy block, in Corefile order, each once.
func (cf *Corefile) collect(lines func(*CAAPolicy) []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range cf.blocks {
		for _, h := range b.policies {
			for _, l := range lines(h) {
				if !seen[l] {
					seen[l] = true
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// Acknowledged returns the start-up warnings every caapolicy block acknowledges as intended,
// each followed by the acknowledge line and its reason, in Corefile order.
func (cf *Corefile) Acknowledged() []string {
	return cf.collect(func(h *CAAPolicy) []string { return h.acknowledged })
}

// policy returns the caapolicy block whose zones hold n most specifically, or nil.
func (cf *Corefile) policy(n string) *CAAPolicy {
	var best *CAAPolicy
	zone := ""
	for _, b := range cf.blocks {
		for _, h := range b.policies {
			if z := plugin.Zones(h.view.Zones()).Matches(n); z != "" && len(z) > len(zone) {
				best, zone = h, z
			}
		}
	}
	return best
}

// Serves reports whether n lies in the zones of a caapolicy block of the Corefile.
func (cf *Corefile) Serves(n string) bool { return cf.policy(dns.Fqdn(n)) != nil }

// Exchange answers the query m as the server would. A name in the zones of a server block
// holding caapolicy is asked of the servers (dnsserver.Server's ServeDNS picks the block, runs
// its handler chain and answers errors as CoreDNS does; a server refuses names it does not
// serve, and the next one listening elsewhere is asked); any other name is REFUSED: offline
// answers stop where caapolicy's server blocks end, rather than forward. The context carries the
// server, as a listener's does, so that plugins that ask the server again (file's CNAME targets)
// work as they do live.
func (cf *Corefile) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	refused := new(dns.Msg).SetRcode(m, dns.RcodeRefused)
	if len(m.Question) != 1 || !cf.inServerBlocks(m.Question[0].Name) {
		return refused, nil
	}
	for _, s := range cf.servers {
		sctx := context.WithValue(ctx, dnsserver.Key{}, s)
		sctx = context.WithValue(sctx, dnsserver.LoopKey{}, 0)
		w := &served.Capture{}
		s.ServeDNS(sctx, w, m)
		if w.Msg == nil {
			return nil, errors.New("the server wrote no answer")
		}
		if w.Msg.Rcode != dns.RcodeRefused {
			return w.Msg, nil
		}
	}
	return refused, nil
}

// inServerBlocks reports whether n lies in the zones of a server block holding caapolicy.
func (cf *Corefile) inServerBlocks(n string) bool {
	for _, b := range cf.blocks {
		if plugin.Zones(b.zones).Matches(n) != "" {
			return true
		}
	}
	return false
}

// Lookup is a caa.Lookup over the answers the server would give (Exchange), read as the
// climb reads a live server's: the same caa.DNSLookup, with Exchange in place of the network.
func (cf *Corefile) Lookup(ctx context.Context, n string) (caa.Step, error) {
	l := caa.DNSLookup{Server: cf.Path, Exchange: cf.Exchange}
	return l.Lookup(ctx, n)
}

// Partners returns the partner CAs of the caapolicy block serving n, as their issue values
// ("letsencrypt.org", "letsencrypt.org; accounturi=..."), in Corefile order.
func (cf *Corefile) Partners(n string) []string {
	h := cf.policy(dns.Fqdn(n))
	if h == nil {
		return nil
	}
	return h.view.Partners(dns.Fqdn(n))
}

// Owners returns the zones and the policy owner names of every caapolicy block, lowercase and
// sorted: the names a policy speaks about, which a check of the Corefile starts from.
func (cf *Corefile) Owners() []string {
	var out []string
	for _, b := range cf.blocks {
		for _, h := range b.policies {
			out = append(append(out, h.view.Zones()...), h.view.Owners()...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
