// Package watch is caapolicy's watcher: what it does with the queries of CA checks that a block
// answers (CAA, and TXT for the dns-persist-01 records of its policy). It writes each query's log
// line, attributes its client to a CA (CATable), groups the queries of one CA check into a check
// event and judges the event against what the block serves, and counts events through the
// block's Metrics.
//
// A block hands the watcher an Entry per query (Log.Enqueue) and returns at once: one Pipeline
// per process, with one queue and one writer goroutine, formats and writes the lines of every
// block, whatever their number. The package knows nothing of CoreDNS's handlers or Corefile: the
// plugin builds the Entry, supplies the lookup over its served view (Block.Lookup) and wires the
// hooks (Log.Start, Stop, Shutdown, RestartFailed) to its instance's.
package watch
