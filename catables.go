package caapolicy

import (
	"slices"
	"strings"

	"github.com/coredns/caddy"
)

// A platform pastes the same ca lines (the published ranges of the CAs it knows) into every
// customer's block. Blocks of one Corefile load whose ca lines list the same prefixes for the same
// CAs share one table, so that a thousand blocks hold one table rather than a thousand (issue 24,
// item 4). The tables live in caddy's per-instance storage and go with the instance.

// caTablesKey keys the load's tables, by their contents, in caddy's per-instance storage.
type caTablesKey struct{}

// shareCATable returns the table of an earlier block of the same load with the same contents as
// t, or t, which later blocks then share. A table is never changed after its block is read.
func shareCATable(c *caddy.Controller, t caTable) caTable {
	if len(t.byPrefix) == 0 {
		return t
	}
	tables, _ := c.Get(caTablesKey{}).(map[string]caTable)
	if tables == nil {
		tables = map[string]caTable{}
		c.Set(caTablesKey{}, tables)
	}
	key := t.contents()
	if shared, ok := tables[key]; ok {
		return shared
	}
	tables[key] = t
	return t
}

// contents lists the table's prefixes and their CAs, one per line, in order: equal tables give
// equal text, whatever the order of their ca lines.
func (t *caTable) contents() string {
	lines := make([]string, 0, len(t.byPrefix))
	for p, s := range t.byPrefix {
		lines = append(lines, p.String()+" "+s.ca)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
