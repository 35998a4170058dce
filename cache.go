package caapolicy

// CAA answers are kept out of the cache with CoreDNS's own hook for it. caapolicy runs after
// cache in the plugin order: a CAA answer that cache stored would be served from there to the
// next CA that asks, and caapolicy would never see that query. caapolicy implements
// cache.ZoneBypasser, which cache reads from every handler of its server block at start-up
// (dynupdate uses it for zones that change): cache neither answers nor stores any query in the
// zones it returns. So every CAA query of caapolicy's zones reaches caapolicy, which logs,
// counts and groups it as it does without cache, and its answer goes back through every plugin
// of the chain, signed by the block's own dnssec.
//
// The bypass is per zone, not per type: queries of every other type in caapolicy's zones are
// not cached either, and cost what they cost without cache: the zone data's lookup instead of a
// cache hit: 7 to 12% more CPU per non-CAA query there, measured with bench/dnsperf.sh at a
// fixed rate (README.md, "With cache in the block"; bench/README.md). A watcher in front of every
// plugin cost those queries more. Queries for other zones of the block are cached as before. A
// CAA query behind cache costs more than a stock cache hit: cache passes it on from a deep stack,
// and writing any plugin's reply from there makes Go grow the query goroutine's stack
// (bench/README.md, "Stack growth"); the query log is the rest.

// CacheBypassZones implements cache.ZoneBypasser: the zones of every caapolicy block of the
// server block. cache asks the one handler registered under caapolicy's name, so each returns
// them all.
func (c *CAAPolicy) CacheBypassZones() []string {
	if c.bypass == nil {
		return c.view.Zones()
	}
	return *c.bypass
}
