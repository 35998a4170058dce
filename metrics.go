package caapolicy

import (
	"net"
	"slices"
	"sync"

	"github.com/caapolicy/caapolicy/internal/served"
	"github.com/caapolicy/caapolicy/internal/version"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// sourcePersist is the source of the policy's dns-persist-01 TXT answers (persist.go, internal/served) in the
// metrics and the query log; CAA answers have the served view's sources (served.Sources).
const sourcePersist = "persist"

var (
	// queriesTotal counts the CAA queries answered in caapolicy's zones.
	queriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "caapolicy",
		Name:      "queries_total",
		Help:      "Counter of CAA queries in caapolicy's zones, and of TXT queries for the policy's dns-persist-01 records (source persist), by attributed CA and answer source.",
	}, []string{"server", "zone", "view", "ca", "source"})
	// partnerRecordsTotal counts the partner records added to answers.
	partnerRecordsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "caapolicy",
		Name:      "partner_records_total",
		Help:      "Counter of partner CA records added to CAA answers.",
	}, []string{"server", "zone", "view"})
	// checkEventsTotal counts the CAA checks (bursts of queries from one source for one name).
	checkEventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "caapolicy",
		Name:      "check_events_total",
		Help:      "Counter of CAA check events, by attributed CA.",
	}, []string{"server", "zone", "view", "ca"})
	// unauthorizedChecksTotal counts check events by a known CA that may not issue for the name.
	unauthorizedChecksTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "caapolicy",
		Name:      "unauthorized_checks_total",
		Help:      "Counter of CAA checks by a known CA that is not authorized for the name checked.",
	}, []string{"server", "zone", "view", "ca"})
	// multiPerspectiveChecksTotal counts check events that came from two source networks or more.
	multiPerspectiveChecksTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "caapolicy",
		Name:      "multi_perspective_checks_total",
		Help:      "Counter of CAA check events from two or more source networks (/24 or /48), as multi-perspective CA checks are.",
	}, []string{"server", "zone", "view"})
	// logDroppedTotal counts the query records dropped because the log queue was full.
	logDroppedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "caapolicy",
		Name:      "log_dropped_total",
		Help:      "Counter of CAA query records dropped from the query log and check events because the queue was full.",
	}, []string{"server", "zone", "view"})
	// buildInfo says which caapolicy and which CoreDNS the server runs; its value is always 1.
	buildInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "caapolicy",
		Name:      "build_info",
		Help:      "A metric with a constant '1' value labeled by the caapolicy version and the CoreDNS version it is built with.",
	}, []string{"version", "coredns"})
)

func init() { buildInfo.WithLabelValues(version.String(), coremain.CoreVersion).Set(1) }

// counterKey is one label set of the per-query counters.
type counterKey struct{ server, zone, view, ca, source string }

// counterCache holds the counters per label set, so that counting a query neither hashes the
// labels in the registry nor allocates once its label set has been seen.
type counterCache struct {
	mu sync.RWMutex
	m  map[counterKey]prometheus.Counter
}

func (cc *counterCache) get(k counterKey, vec *prometheus.CounterVec, labels func() []string) prometheus.Counter {
	cc.mu.RLock()
	ctr, ok := cc.m[k]
	cc.mu.RUnlock()
	if ok {
		return ctr
	}
	ctr = vec.WithLabelValues(labels()...)
	cc.mu.Lock()
	if cc.m == nil {
		cc.m = map[counterKey]prometheus.Counter{}
	}
	cc.m[k] = ctr
	cc.mu.Unlock()
	return ctr
}

// counters are a block's cached counters.
type counters struct{ queries, partnerRecords, checkEvents, multiPerspective counterCache }

func (c *counters) query(server, zone, view, ca, source string) prometheus.Counter {
	k := counterKey{server, zone, view, ca, source}
	return c.queries.get(k, queriesTotal, func() []string { return []string{server, zone, view, ca, source} })
}

func (c *counters) partners(server, zone, view string) prometheus.Counter {
	k := counterKey{server: server, zone: zone, view: view}
	return c.partnerRecords.get(k, partnerRecordsTotal, func() []string { return []string{server, zone, view} })
}

func (c *counters) checkEvent(server, zone, view, ca string) prometheus.Counter {
	k := counterKey{server: server, zone: zone, view: view, ca: ca}
	return c.checkEvents.get(k, checkEventsTotal, func() []string { return []string{server, zone, view, ca} })
}

func (c *counters) multiPerspectiveCheck(server, zone, view string) prometheus.Counter {
	k := counterKey{server: server, zone: zone, view: view}
	return c.multiPerspective.get(k, multiPerspectiveChecksTotal, func() []string { return []string{server, zone, view} })
}

// CheckClosed implements watch.Metrics: it counts a closed check event.
func (c *counters) CheckClosed(server, zone, view, ca string, multiPerspective, unauthorized bool) {
	c.checkEvent(server, zone, view, ca).Inc()
	if multiPerspective {
		c.multiPerspectiveCheck(server, zone, view).Inc()
	}
	if unauthorized {
		unauthorizedChecksTotal.WithLabelValues(server, zone, view, ca).Inc()
	}
}

// Dropped implements watch.Metrics: it counts a query record the log queue had no room for.
func (c *counters) Dropped(server, zone, view string) {
	logDroppedTotal.WithLabelValues(server, zone, view).Inc()
}

// zeroMetrics makes every metric of the block present at zero from start-up, for each address
// the server block listens on, its view and each zone (the block's and its zone blocks'), so that dashboards and alerts see 0
// rather than no series until the first query: one series per metric and zone (queries of an
// unknown CA answered passthrough, check events of an unknown CA, unauthorized checks of the
// first CA of the ca lines by name), not every CA and source, whose product would cost a server with a
// thousand blocks tens of megabytes. CoreDNS's metrics plugin sets coredns_plugin_enabled the
// same way, from an OnStartup hook, and so is this meant to be called.
func (c *CAAPolicy) zeroMetrics(cfg *dnsserver.Config) {
	known := "" // the first CA of the ca lines, in name order
	if cas := c.cas.CAs(); len(cas) > 0 {
		known = cas[0]
	}
	checks := c.qlog != nil && c.qlog.Config().Window > 0
	for _, host := range cfg.ListenHosts {
		server := serverAddress(cfg, host)
		view := cfg.ViewName
		for _, zone := range append(slices.Clone(c.view.Zones()), c.view.ZoneBlocks()...) {
			c.counters.partners(server, zone, view)
			c.counters.query(server, zone, view, watch.UnknownCA, served.Passthrough.String())
			if checks {
				c.counters.checkEvent(server, zone, view, watch.UnknownCA)
				if known != "" { // only a known CA's check is judged
					unauthorizedChecksTotal.WithLabelValues(server, zone, view, known)
				}
				c.counters.multiPerspectiveCheck(server, zone, view)
			}
			if c.qlog != nil {
				logDroppedTotal.WithLabelValues(server, zone, view)
			}
		}
	}
}

// serverAddress is the server label of queries to host: the address CoreDNS gives the server
// that listens there (core/dnsserver's groupConfigsByListenAddr), which metrics.WithServer reads.
func serverAddress(cfg *dnsserver.Config, host string) string {
	hp := net.JoinHostPort(host, cfg.Port)
	if a, err := net.ResolveTCPAddr("tcp", hp); err == nil {
		hp = a.String()
	}
	return cfg.Transport + "://" + hp
}
