package caapolicy

import (
	"errors"
	"os"

	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/served"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnssec"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin(name)

// processLog is the watcher's pipeline of the process: one queue and one writer goroutine for
// every caapolicy block (internal/watch).
var processLog = watch.NewPipeline(name)

func init() { plugin.Register(name, setup) }

func setup(c *caddy.Controller) error {
	// Each caapolicy block in a server block becomes its own handler, so that
	// different zones can carry different policies.
	var blocks []*CAAPolicy
	bypass := new([]string) // every block's zones, for cache (cache.go)
	serverZones := plugin.OriginsFromArgsOrServerBlock(nil, c.ServerBlockKeys)
	for c.Next() {
		h, err := newHandler(c)
		if err != nil {
			return plugin.Error(name, err)
		}
		if err := h.checkZones(serverZones, blocks); err != nil {
			return plugin.Error(name, err)
		}
		blocks = append(blocks, h)
		h.cas = shareCATable(c, h.cas)
		*bypass = append(*bypass, h.view.Zones()...)
		h.bypass = bypass
		if h.qlog != nil {
			if err := joinInstance(c, h.qlog); err != nil {
				return plugin.Error(name, err)
			}
			c.OnStartup(func() error { return atDestination(h.qlog.Start()) })
			c.OnShutdown(h.qlog.Stop)
			c.OnFinalShutdown(h.qlog.Shutdown)
			c.OnRestartFailed(h.qlog.RestartFailed)
		}
		cfg := dnsserver.GetConfig(c)
		c.OnStartup(func() error {
			if err := h.checkNext(); err != nil {
				return plugin.Error(name, err)
			}
			if d, ok := cfg.Handler("dnssec").(dnssec.Dnssec); ok {
				h.view.SetSigner(&d) // negative answers are signed by the block's own dnssec
			}
			if err := h.startTransfers(cfg); err != nil {
				return plugin.Error(name, err)
			}
			h.zeroMetrics(cfg)
			h.group = blocks // shared by the blocks: one slice, not one list per block
			return nil
		})
		c.OnShutdown(func() error {
			h.stopOnce.Do(func() { close(h.stopped) })
			return nil
		})
		cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
			h.view.Next = next
			return h
		})
	}
	noteOffline(c, serverZones, blocks)
	return nil
}

// newHandler reads one caapolicy block (the dispenser stands on the "caapolicy" token) and builds
// its handler: the served view of the block, its query log and its start-up warnings, which it
// logs.
func newHandler(c *caddy.Controller) (*CAAPolicy, error) {
	b, err := corefile.Parse(c)
	if err != nil {
		return nil, err
	}
	v, err := served.New(b)
	if err != nil {
		return nil, err
	}
	h := &CAAPolicy{view: v, pos: b.Pos, stopped: make(chan struct{})}
	cas := b.CAs // a table of its own: h keeps no pointer into the parsed block
	h.cas = &cas
	if err := b.DefaultNode(os.Hostname); err != nil {
		return nil, err
	}
	if b.Log.Queries || b.Log.Window > 0 {
		h.qlog = watch.NewLog(b.Log, h.watchBlock(), processLog)
	}
	h.warnings, h.acknowledged = b.Acknowledge(append(b.Warnings, v.Lint(b)...))
	for _, w := range h.warnings {
		log.Warning(w)
	}
	if n := len(h.acknowledged); n > 0 {
		log.Infof("%s: %d warnings acknowledged as intended (caacheck -lint lists them)", b.Pos, n)
	}
	return h, nil
}

// Warnings returns the start-up warnings for the policy of this handler.
func (c *CAAPolicy) Warnings() []string { return c.warnings }

// Acknowledged returns the start-up warnings that the policy acknowledges as intended, each
// followed by the acknowledge line and its reason (internal/corefile, acknowledge.go).
func (c *CAAPolicy) Acknowledged() []string { return c.acknowledged }

// logInstanceKey keys, in caddy's per-instance storage, the watch.Instance that the logging
// blocks of one Corefile load share: it opens their destinations at start-up, once for all the
// blocks naming one.
type logInstanceKey struct{}

// joinInstance adds a block's query log to the instance of the Corefile load being read. It
// fails, naming the log line, if the destination could not be opened.
func joinInstance(c *caddy.Controller, l *watch.Log) error {
	i, _ := c.Get(logInstanceKey{}).(*watch.Instance)
	if i == nil {
		i = new(watch.Instance)
		c.Set(logInstanceKey{}, i)
	}
	return atDestination(l.Join(i, dnsserver.GetConfig(c).Root))
}

// atDestination makes the error of a query log's destination a Corefile error at the line naming
// the destination.
func atDestination(err error) error {
	if de, ok := errors.AsType[*watch.DestError](err); ok {
		return corefile.ErrAt(de.Pos, de.Err.Error())
	}
	return err
}

// caTablesKey keys the load's watch.CATables in caddy's per-instance storage: blocks of one load
// listing the same CA prefixes share one table.
type caTablesKey struct{}

// shareCATable returns the table of an earlier block of the same load with the same contents as
// t, or t.
func shareCATable(c *caddy.Controller, t *watch.CATable) *watch.CATable {
	tables, _ := c.Get(caTablesKey{}).(*watch.CATables)
	if tables == nil {
		tables = new(watch.CATables)
		c.Set(caTablesKey{}, tables)
	}
	return tables.Share(t)
}
