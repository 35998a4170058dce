package caapolicy

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// lint returns the warnings for likely mistakes in a parsed block (PRODUCT.md section 7), each
// "file:line: what is wrong and what to write". They never stop start-up.
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
			case TagIssue:
				issue = true
			case TagIssueWild:
				wild = true
			}
		}
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
	for _, p := range cfg.partners.list {
		lintIssuer(p.issuer, "partner", p.pos, warn)
	}

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
	if pr.flag != 0 && pr.flag != 128 {
		hint := ""
		if pr.flag&1 != 0 {
			hint = "; Let's Encrypt treats bit 1 as critical too"
		}
		warn(pr.pos, "flags %d on %s: only 0 and 128 (Issuer Critical) are defined, write one of them%s", pr.flag, pr.tag, hint)
	}
	tag := strings.ToLower(pr.tag)
	if pr.flag&128 != 0 && !knownTags[ModeRFC][tag] {
		warn(pr.pos, "critical property %s at %s has a tag no CA knows, so no CA may issue there; use flags 0 unless that is the intent", pr.tag, owner)
	}
	if tag != TagIssue && tag != TagIssueWild {
		return
	}
	if pr.value == ";" {
		return
	}
	issuer, _, _ := strings.Cut(pr.value, ";")
	issuer = strings.Trim(issuer, " \t")
	v, err := ParseIssueValue(pr.value)
	switch {
	case strings.Contains(issuer, "/") || strings.Contains(issuer, ":"):
		warn(pr.pos, "%s %q names the CA by URL; CAs match the bare domain, so write %s", pr.tag, issuer, bareDomain(issuer))
		return
	case strings.HasSuffix(issuer, ".") && issuer != ".":
		warn(pr.pos, "%s %q ends with a dot; no CA matches that, write %s", pr.tag, issuer, strings.TrimSuffix(issuer, "."))
		return
	case err != nil:
		warn(pr.pos, "%s %q is malformed (%v) and authorizes no CA", pr.tag, pr.value, err)
		return
	case v.Issuer != strings.ToLower(v.Issuer):
		warn(pr.pos, "%s %q has uppercase letters; Let's Encrypt matches the issuer byte for byte, so write %s", pr.tag, v.Issuer, strings.ToLower(v.Issuer))
	}
	if v.Issuer != "" {
		lintIssuer(strings.ToLower(v.Issuer), pr.tag, pr.pos, warn)
	}
	seen := map[string]bool{}
	for _, p := range v.Params {
		t := strings.ToLower(p.Tag)
		if strings.Contains(p.Tag, "-") {
			warn(pr.pos, "%s parameter %q has a hyphen; Let's Encrypt ignores the whole record, write %s", pr.tag, p.Tag, strings.ReplaceAll(t, "-", ""))
		}
		if (t == "accounturi" || t == "validationmethods") && seen[t] {
			warn(pr.pos, "%s %q repeats %s, which makes it unsatisfiable for every CA (RFC 8657); keep one %s, or write two %s lines", pr.tag, pr.value, t, t, pr.tag)
		}
		seen[t] = true
	}
}

// lintIssuer warns about an identifier that is no known CA's, with the nearest known one.
func lintIssuer(issuer, what, pos string, warn func(pos, format string, args ...any)) {
	if knownCASet[issuer] {
		return
	}
	if near, ok := nearestCA(issuer); ok {
		warn(pos, "%s %s is not a known CA identifier; did you mean %s? A misspelt identifier locks the CA out", what, issuer, near)
		return
	}
	warn(pos, "%s %s is not in caapolicy's table of known CA identifiers; check it against the CA's CPS (section 4.2.4)", what, issuer)
}

// bareDomain turns "https://LetsEncrypt.org/path" into "letsencrypt.org".
func bareDomain(s string) string {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	s, _, _ = strings.Cut(s, "/")
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// restrictiveParent returns the nearest ancestor of owner (a declared name or the apex) whose
// policy restricts issuance, and that policy.
func (cfg *blockConfig) restrictiveParent(owner string) (string, policy) {
	for n := parentName(owner); n != "."; n = parentName(n) {
		p, ok := cfg.names[n]
		if !ok && slices.Contains(cfg.zones, n) {
			p, ok = cfg.apex, true
		}
		if !ok {
			continue
		}
		for _, pr := range p.props {
			if t := strings.ToLower(pr.tag); t == TagIssue || t == TagIssueWild {
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
