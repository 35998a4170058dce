package caapolicy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
)

// lint returns the warnings for likely mistakes in a parsed block (README.md, "Start-up
// warnings", lists every one), each "file:line: what is wrong and what to write". They never
// stop start-up.
func lint(cfg *blockConfig, h *CAAPolicy) []string {
	var out []string
	warn := func(pos, format string, args ...any) {
		out = append(out, pos+": "+fmt.Sprintf(format, args...))
	}
	// The apex policy is one declaration whatever the number of zones; name at the first zone.
	type decl struct {
		owner string
		p     policy
	}
	var decls []decl
	if len(cfg.apex.props) > 0 {
		decls = append(decls, decl{cfg.zones[0], cfg.apex})
	}
	names := make([]string, 0, len(cfg.names))
	for n := range cfg.names {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		decls = append(decls, decl{n, cfg.names[n]})
	}

	for _, d := range decls {
		var issue, wild, restricts bool
		for _, pr := range d.p.props {
			lintProperty(pr, d.owner, warn)
			switch strings.ToLower(pr.tag) {
			case caa.TagIssue:
				issue = true
			case caa.TagIssueWild:
				wild = true
			}
		}
		lintNoneBeside(d.p.props, d.owner, warn)
		restricts = issue || wild
		if wild && !issue {
			warn(d.p.pos, "the policy at %s has issuewild but no issue, so any CA may issue non-wildcard certificates there; add issue lines (or issue none)", d.owner)
		}
		if !restricts && d.owner != cfg.zones[0] {
			if parent, pp := cfg.restrictiveParent(d.owner); parent != "" {
				warn(d.p.pos, "the policy at %s has no issue or issuewild property, so it lifts the restriction of %s (declared at %s): any CA may issue for %s; repeat the parent's issue lines in this name block", d.owner, parent, pp.pos, d.owner)
			}
		}
	}
	partnerLists := [][]partner{cfg.partners.list}
	for _, zc := range cfg.overrides {
		if zc.partnersPos != "" {
			partnerLists = append(partnerLists, zc.partners.list)
		}
	}
	for _, list := range partnerLists {
		for _, p := range list {
			if w := caa.IssuerWarning(p.issuer, "partner"); w != "" {
				warn(p.pos, "%s", w)
			}
		}
	}

	lintPersist(cfg, h, warn)

	owners := make([]string, 0, len(h.owners))
	for n, o := range h.owners {
		if o.notes.any() {
			owners = append(owners, n)
		}
	}
	slices.Sort(owners)
	for _, n := range owners {
		o := h.owners[n]
		warn(o.pos, "partners at %s: %s", n, o.notes)
	}
	return dedupe(out)
}

// lintProperty checks one property of the policy at owner.
func lintProperty(pr property, owner string, warn func(pos, format string, args ...any)) {
	for _, w := range caa.PropertyWarnings(pr.flag, pr.tag, pr.value, owner) {
		warn(pr.pos, "%s", w)
	}
}

// restrictiveParent returns the nearest ancestor of owner (a declared name or the apex) whose
// policy restricts issuance, and that policy.
func (cfg *blockConfig) restrictiveParent(owner string) (string, policy) {
	for n := caa.ParentName(owner); n != "."; n = caa.ParentName(n) {
		p, ok := cfg.names[n]
		if !ok && slices.Contains(cfg.zones, n) {
			p, ok = cfg.apex, true
		}
		if !ok {
			continue
		}
		for _, pr := range p.props {
			if t := strings.ToLower(pr.tag); t == caa.TagIssue || t == caa.TagIssueWild {
				return n, p
			}
		}
		return "", policy{}
	}
	return "", policy{}
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

// Warnings returns the start-up warnings for the policy of this handler.
func (c *CAAPolicy) Warnings() []string { return c.warnings }

// lintPersist warns about a persist line whose authorization the block's own CAA, as served
// from the policy alone, contradicts at the owner or above it (persist.go adds CAA only at the
// owner itself): validationmethods without dns-persist-01, an issuewild against wildcard, a
// parent's restriction. Zone data merged at run time is checked by caacheck, not here.
func lintPersist(cfg *blockConfig, h *CAAPolicy, warn func(pos, format string, args ...any)) {
	lookup := func(_ context.Context, n string) (caa.Step, error) {
		s := caa.Step{Name: n}
		if !h.holds(n) {
			s.Outside = true
			return s, nil
		}
		if o := h.ownerOf(n); o != nil {
			s.RRset = o.records
		}
		return s, nil
	}
	check := func(owner string, p policy) {
		for _, l := range p.persist {
			rec := caa.PersistRecord{Name: owner, Issuer: l.issuer, AccountURI: l.account, Wildcard: l.wildcard}
			for _, mode := range []caa.Mode{caa.ModeRFC, caa.ModeLetsEncrypt} {
				if conflicts := caa.CheckPersist(context.Background(), rec, mode, lookup); len(conflicts) > 0 {
					warn(l.pos, "%s; add issue %s accounturi=%s (and issuewild for wildcard) where the policy decides, or remove the persist line", conflicts[0].Reason, l.issuer, l.account)
					break
				}
			}
		}
	}
	for _, z := range cfg.zones {
		check(z, cfg.apex)
	}
	names := make([]string, 0, len(cfg.names))
	for n := range cfg.names {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		check(n, cfg.names[n])
	}
}
