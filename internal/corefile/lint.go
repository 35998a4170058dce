package corefile

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
)

// Lint returns the warnings for likely mistakes in the block (README.md, "Start-up warnings",
// lists every one), each "file:line: what is wrong and what to write", but for the partner
// conflicts at each owner, which the plugin finds as it adds the partner records. They never
// stop start-up. served is the CAA that the block serves from its policy alone (with partner
// records), name by name: the persist lines are checked against it.
func (b *Block) Lint(served caa.Lookup) []string {
	var out []string
	warn := func(pos, format string, args ...any) {
		out = append(out, pos+": "+fmt.Sprintf(format, args...))
	}
	// The apex policy is one declaration whatever the number of zones; name at the first zone.
	type decl struct {
		owner string
		p     Policy
	}
	var decls []decl
	if len(b.Apex.Props) > 0 {
		decls = append(decls, decl{b.Zones[0], b.Apex})
	}
	for _, n := range slices.Sorted(maps.Keys(b.Names)) {
		decls = append(decls, decl{n, b.Names[n]})
	}

	for _, d := range decls {
		var issue, wild, restricts bool
		for _, pr := range d.p.Props {
			for _, w := range caa.PropertyWarnings(pr.Flag, pr.Tag, pr.Value, d.owner) {
				warn(pr.Pos, "%s", w)
			}
			switch strings.ToLower(pr.Tag) {
			case caa.TagIssue:
				issue = true
			case caa.TagIssueWild:
				wild = true
			}
		}
		lintNoneBeside(d.p.Props, d.owner, warn)
		restricts = issue || wild
		if wild && !issue {
			warn(d.p.Pos, "the policy at %s has issuewild but no issue, so any CA may issue non-wildcard certificates there; add issue lines (or issue none)", d.owner)
		}
		if !restricts && d.owner != b.Zones[0] {
			if parent, pp := b.restrictiveParent(d.owner); parent != "" {
				warn(d.p.Pos, "the policy at %s has no issue or issuewild property, so it lifts the restriction of %s (declared at %s): any CA may issue for %s; repeat the parent's issue lines in this name block", d.owner, parent, pp.Pos, d.owner)
			}
		}
	}
	partnerLists := [][]Partner{b.Settings.Partners}
	for _, z := range b.Overrides {
		if z.Settings.partnersPos != "" {
			partnerLists = append(partnerLists, z.Settings.Partners)
		}
	}
	for _, list := range partnerLists {
		for _, p := range list {
			if w := caa.IssuerWarning(p.Issuer, "partner"); w != "" {
				warn(p.Pos, "%s", w)
			}
		}
	}
	b.lintPersist(served, warn)
	return dedupe(out)
}

// restrictiveParent returns the nearest ancestor of owner (a declared name or the apex) whose
// policy restricts issuance, and that policy.
func (b *Block) restrictiveParent(owner string) (string, Policy) {
	for n := caa.ParentName(owner); n != "."; n = caa.ParentName(n) {
		p, ok := b.Names[n]
		if !ok && slices.Contains(b.Zones, n) {
			p, ok = b.Apex, true
		}
		if !ok {
			continue
		}
		for _, pr := range p.Props {
			if t := strings.ToLower(pr.Tag); t == caa.TagIssue || t == caa.TagIssueWild {
				return n, p
			}
		}
		return "", Policy{}
	}
	return "", Policy{}
}

// lintNoneBeside warns about issue none (or issuewild none) next to an issuer of the same tag at
// one owner: properties add up, so the issuer may issue and none does nothing.
func lintNoneBeside(d []Property, owner string, warn func(pos, format string, args ...any)) {
	for _, tag := range []string{"issue", "issuewild"} {
		var none *Property
		var issuer *Property
		for i := range d {
			if !strings.EqualFold(d[i].Tag, tag) {
				continue
			}
			if d[i].Value == ";" {
				if none == nil {
					none = &d[i]
				}
			} else if issuer == nil {
				issuer = &d[i]
			}
		}
		if none != nil && issuer != nil {
			warn(none.Pos, "%s none at %s is ignored beside %s %q (%s): CAA properties add up, so that CA may still issue; remove one of them", tag, owner, issuer.Tag, issuer.Value, issuer.Pos)
		}
	}
}

// lintPersist warns about a persist line whose authorization the block's own CAA, as served
// from the policy alone, contradicts at the owner or above it (the plugin adds CAA only at the
// owner itself): validationmethods without dns-persist-01, an issuewild against wildcard, a
// parent's restriction. Zone data merged at run time is checked by caacheck, not here.
func (b *Block) lintPersist(served caa.Lookup, warn func(pos, format string, args ...any)) {
	check := func(owner string, p Policy) {
		for _, l := range p.Persist {
			rec := caa.PersistRecord{Name: owner, Issuer: l.Issuer, AccountURI: l.Account, Wildcard: l.Wildcard}
			for _, mode := range []caa.Mode{caa.ModeRFC, caa.ModeLetsEncrypt} {
				if conflicts := caa.CheckPersist(context.Background(), rec, mode, served); len(conflicts) > 0 {
					warn(l.Pos, "%s; add issue %s accounturi=%s (and issuewild for wildcard) where the policy decides, or remove the persist line", conflicts[0].Reason, l.Issuer, l.Account)
					break
				}
			}
		}
	}
	for _, z := range b.Zones {
		check(z, b.Apex)
	}
	for _, n := range slices.Sorted(maps.Keys(b.Names)) {
		check(n, b.Names[n])
	}
}

// byPosition sorts "file:line: text" warnings by file and line, keeping the order within a line.
func byPosition(lines []string) []string {
	key := func(l string) (string, int) {
		file, rest, _ := strings.Cut(l, ":")
		n, _ := strconv.Atoi(strings.SplitN(rest, ":", 2)[0])
		return file, n
	}
	slices.SortStableFunc(lines, func(a, b string) int {
		fa, la := key(a)
		fb, lb := key(b)
		return cmp.Or(strings.Compare(fa, fb), la-lb)
	})
	return lines
}

// dedupe drops repeated lines, keeping the first of each.
func dedupe(lines []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lines {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}
