package corefile

import "github.com/caapolicy/caapolicy/internal/watch"

// Block is one caapolicy block as the Corefile writes it, checked line by line.
type Block struct {
	Zones []string // lowercase, fully qualified
	Pos   string   // where the block opens, "file:line"

	Apex  Policy            // the policy at the apex of each of Zones
	Names map[string]Policy // fully qualified, lowercase owner -> its policy, zone blocks' apexes included

	Fall    []string // fallthrough's zones, as written; every zone of the block if empty
	FallSet bool     // fallthrough is written
	fallPos string

	Settings  Scope  // the block's settings for its zones
	Overrides []Zone // the zone blocks, in Corefile order, their unwritten settings the block's

	Serial uint32       // the policy serial (README, "Zone transfers and secondaries")
	Log    watch.Config // the query log and check events; Node is "" unless node is written
	CAs    watch.CATable

	// Warnings are the likely mistakes found while reading, "file:line: text", before Lint.
	Warnings []string
}

// Policy is the CAA RRset declared for one owner name, in Corefile order.
type Policy struct {
	Props   []Property
	Persist []Persist // dns-persist-01 records to publish
	Pos     string    // where the owner is declared
	Ack     string    // why the warnings about this policy are intended (acknowledge.go)
	AckPos  string    // where acknowledge is written
}

// Property is one CAA property as the Corefile declares it: issue and issuewild values are
// normalized ("none" is ";", CA identifiers lowercase without a trailing dot).
type Property struct {
	Flag       uint8
	Tag, Value string
	Pos        string
}

// Persist is one persist line: a dns-persist-01 authorization of a CA for an ACME account.
type Persist struct {
	Issuer, Account string // the CA's identifier, lowercase; the account URI
	Wildcard        bool
	Until           int64 // persistUntil, UNIX seconds; 0 for none
	Pos             string
}

// Scope is what a block, or one zone block in it, sets for the answers of its zones.
type Scope struct {
	TTL      uint32
	Merge    bool      // zonedata merge; false for zonedata ignore
	Partners []Partner // in Corefile order, one per CA identifier; none with partners off
	Trigger  Trigger

	ttlSet, mergeSet, triggerSet bool
	partnersOff                  bool   // "partners off" is written
	partnersPos                  string // where the first partners line is
}

// Zone is one zone block: its zone, its settings and the policy of its apex (also in
// Block.Names, with the policies of its name blocks).
type Zone struct {
	Name     string // lowercase, fully qualified
	Pos      string // where the zone block opens
	Settings Scope
	Apex     Policy
}

// Partner is one partner CA of a partners line.
type Partner struct {
	Issuer string // lowercase, no trailing dot
	Value  string // the issue value written for it, "issuer[; key=value...]"
	Pos    string
}

// Trigger says which CAA RRsets get partner records (README, "Partner CAs").
type Trigger uint8

const (
	// TriggerRestrictive adds partners only to what an RRset already restricts: issue C where
	// issue properties exist, issuewild C where issuewild properties exist.
	TriggerRestrictive Trigger = iota
	// TriggerAny adds issue C at every owner with a CAA RRset, as Cloudflare does.
	TriggerAny
)
