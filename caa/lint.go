package caa

import (
	"fmt"
	"slices"
	"strings"
)

// PropertyWarnings returns what is likely wrong with one CAA property at owner, each a sentence
// that says what to write instead: flags other than 0 and 128, a critical tag no CA knows, an
// issuer written as a URL, with a trailing dot or in uppercase, an unknown CA identifier,
// hyphenated parameter tags, repeated RFC 8657 parameters and unknown validation methods. A
// property with no warnings returns nil.
func PropertyWarnings(flag uint8, tag, value, owner string) []string {
	var out []string
	warn := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if flag != 0 && flag != 128 {
		hint := ""
		if flag&1 != 0 {
			hint = "; Let's Encrypt treats bit 1 as critical too"
		}
		warn("flags %d on %s: only 0 and 128 (Issuer Critical) are defined, write one of them%s", flag, tag, hint)
	}
	low := strings.ToLower(tag)
	if flag&128 != 0 && !ModeRFC.KnownTag(low) {
		warn("critical property %s at %s has a tag no CA knows, so no CA may issue there; use flags 0 unless that is the intent", tag, owner)
	}
	if (low != TagIssue && low != TagIssueWild) || value == ";" {
		return out
	}
	issuer, _, _ := strings.Cut(value, ";")
	issuer = strings.Trim(issuer, " \t")
	v, err := ParseIssueValue(value)
	switch {
	case (strings.Contains(issuer, "/") || strings.Contains(issuer, ":")) && CheckDomainName(BareDomain(issuer)) == nil:
		warn("%s %q names the CA by URL; CAs match the bare domain, so write %s", tag, issuer, BareDomain(issuer))
		return out
	case strings.HasSuffix(issuer, ".") && issuer != ".":
		warn("%s %q ends with a dot; no CA matches that, write %s", tag, issuer, strings.TrimSuffix(issuer, "."))
		return out
	case err != nil:
		warn("%s %q is malformed (%v) and authorizes no CA", tag, value, err)
		return out
	case v.Issuer != strings.ToLower(v.Issuer):
		warn("%s %q has uppercase letters; Let's Encrypt matches the issuer byte for byte, so write %s", tag, v.Issuer, strings.ToLower(v.Issuer))
	}
	if v.Issuer != "" {
		if w := IssuerWarning(strings.ToLower(v.Issuer), tag); w != "" {
			out = append(out, w)
		}
	}
	seen := map[string]bool{}
	for _, p := range v.Params {
		t := strings.ToLower(p.Tag)
		if strings.Contains(p.Tag, "-") {
			warn("%s parameter %q has a hyphen; Let's Encrypt ignores the whole record, write %s", tag, p.Tag, strings.ReplaceAll(t, "-", ""))
		}
		if (t == "accounturi" || t == "validationmethods") && seen[t] {
			warn("%s %q repeats %s, which makes it unsatisfiable for every CA (RFC 8657); keep one %s, or write two %s lines", tag, value, t, t, tag)
		}
		seen[t] = true
		if t == "validationmethods" {
			out = append(out, methodWarnings(tag, p.Value)...)
		}
	}
	return out
}

// methodWarnings checks the labels of one validationmethods list: each should be an ACME method
// or a well-formed ca-tbr-N label, in lowercase, and a ca-tbr-N label needs its ACME alias beside
// it for Let's Encrypt, which reads only ACME names.
func methodWarnings(tag, list string) []string {
	var out []string
	warn := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	labels := strings.Split(list, ",")
	for _, m := range labels {
		switch {
		case strings.HasPrefix(strings.ToLower(m), TBRPrefix) && !IsTBRLabel(m):
			warn("%s validationmethods %q is not a Baseline Requirements label: ballot SC-098 writes section 3.2.2.4.N as %sN (ca-tbr-7 for DNS Change), so no CA validates with it", tag, m, TBRPrefix)
			continue
		case !KnownMethod(m):
			if near, ok := NearestMethod(m); ok {
				warn("%s validationmethods %q is not an ACME validation method, so no CA validates with it; did you mean %s?", tag, m, near)
			} else {
				warn("%s validationmethods %q is neither an ACME validation method (%s) nor a Baseline Requirements %sN label, so no CA validates with it", tag, m, strings.Join(acmeMethods[:], ", "), TBRPrefix)
			}
			continue
		case m != strings.ToLower(m):
			warn("%s validationmethods %q has uppercase letters; lowercase is canonical and Let's Encrypt compares labels byte for byte, so write %s", tag, m, strings.ToLower(m))
		}
		if !IsTBRLabel(m) {
			continue
		}
		alias, ok := TBRAlias(m)
		switch {
		case !ok:
			warn("%s validationmethods %q names a Baseline Requirements method with no ACME alias: Let's Encrypt skips it and denies unless the list names an ACME method it validates with", tag, m)
		case !slices.Contains(labels, alias):
			warn("%s validationmethods %q: Let's Encrypt (Boulder) reads only ACME names and denies a %s request here; CAs following ballot SC-098 treat it as %s. Add %s to the list", tag, m, alias, alias, alias)
		}
	}
	return out
}

// IssuerWarning returns a warning for an issuer identifier that is no known CA's, naming the
// nearest known one, or "" for a known identifier. what says where the identifier stands
// ("issue", "partner"...).
func IssuerWarning(issuer, what string) string {
	if IsKnownCA(issuer) {
		return ""
	}
	if near, ok := NearestCA(issuer); ok {
		return fmt.Sprintf("%s %s is not a known CA identifier; did you mean %s? A misspelt identifier locks the CA out", what, issuer, near)
	}
	return fmt.Sprintf("%s %s is not in caapolicy's table of known CA identifiers; check it against the CA's CPS (section 4.2.4)", what, issuer)
}

// BareDomain turns "https://LetsEncrypt.org/path" into "letsencrypt.org".
func BareDomain(s string) string {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	s, _, _ = strings.Cut(s, "/")
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// AuthorizesNobody reports whether an issue or issuewild value authorizes no CA: an empty
// issuer (";"), or a value that does not match the grammar, which RFC 8659 section 4.2 has CAs
// read as an empty issuer.
func AuthorizesNobody(value string) bool {
	v, err := ParseIssueValue(value)
	return err != nil || v.Issuer == ""
}
