package main

import (
	"context"
	"fmt"
	"time"

	"github.com/caapolicy/caapolicy/caa"
)

// persistFindings reads the dns-persist-01 records of name from the same source as the climb
// (l: a server, or the Corefile's servers offline) and returns one line for each that a CA
// would not honour: malformed, expired, or contradicted by the name's CAA (another CA, another
// account, validationmethods without dns-persist-01, an issuewild against policy=wildcard).
func persistFindings(ctx context.Context, l *caa.DNSLookup, lookup caa.Lookup, name string, mode caa.Mode, now time.Time) ([]string, error) {
	recs, bad, err := l.PersistRecords(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range bad {
		out = append(out, fmt.Sprintf("%s: %v", caa.PersistName(name), e))
	}
	for _, rec := range recs {
		if !rec.Until.IsZero() && rec.Until.Before(now) {
			out = append(out, fmt.Sprintf("%s: the authorization of %s expired at %s (persistUntil); CAs validate nothing new with it", caa.PersistName(name), rec.Issuer, rec.Until.Format(time.RFC3339)))
			continue
		}
		for _, c := range caa.CheckPersist(ctx, rec, mode, lookup) {
			out = append(out, c.Reason)
		}
	}
	return out, nil
}
