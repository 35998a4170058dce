package corefile

import (
	"fmt"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
)

// presets name lists of partner CAs. A preset is a name for a list, never logic: the partner
// rules (README, "Partner CAs") treat a preset's CAs as if each were listed by hand.
var presets = map[string][]string{
	// Cloudflare's Universal SSL certificate authorities: the records Cloudflare adds, as listed
	// in "Add CAA records", developers.cloudflare.com/ssl/edge-certificates/caa-records/
	// (last updated 2026-04-21).
	"cloudflare": {"pki.goog; cansignhttpexchanges=yes", "letsencrypt.org", "ssl.com", "sectigo.com"},
	// AWS Certificate Manager, "(Optional) Configure a CAA record",
	// docs.aws.amazon.com/acm/latest/userguide/setup-caa.html: any one of amazon.com,
	// amazontrust.com, awstrust.com or amazonaws.com lets ACM issue; amazon.com is the one listed first.
	"aws": {"amazon.com"},
	// Google-managed certificates (Cloud Load Balancing, Certificate Manager), which Google
	// obtains from Google Trust Services (pki.goog) and, where that CA cannot issue, from Let's
	// Encrypt: "How Certificate Manager works",
	// cloud.google.com/certificate-manager/docs/how-it-works, and the CAA section of "Use
	// Google-managed SSL certificates",
	// cloud.google.com/load-balancing/docs/ssl-certificates/google-managed-certs#caa.
	"google": {"pki.goog", "letsencrypt.org"},
}

// partners reads "partners PRESET|CA[;KEY=VALUE...] ..." or "partners off" into sc; several
// lines add up.
func (p *parser) partners(sc *Scope) error {
	c := p.c
	at := pos(c)
	args, err := p.args()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return c.Errf("partners takes presets (cloudflare, aws, google) or CA identifiers, or off: partners cloudflare")
	}
	if len(args) == 1 && strings.EqualFold(args[0], "off") {
		if sc.partnersPos != "" {
			return c.Errf("partners off conflicts with the partners listed at %s; keep one of them", sc.partnersPos)
		}
		sc.partnersOff, sc.partnersPos = true, at
		return nil
	}
	if sc.partnersOff {
		return c.Errf("partners are listed here but switched off at %s; keep one of them", sc.partnersPos)
	}
	if sc.partnersPos == "" {
		sc.partnersPos = at
	}
	for _, a := range args {
		values, err := parsePartner(a)
		if err != nil {
			return c.Err(err.Error())
		}
		for _, v := range values {
			warning, err := sc.addPartner(v, at)
			if err != nil {
				return c.Errf("partner %q: %v", v, err)
			}
			if warning != "" {
				p.warnf(at, "%s", warning)
			}
		}
	}
	return nil
}

// nearestPreset returns the preset a misspelt one most likely means (two edits at most), or "".
func nearestPreset(s string) string {
	best, bestD := "", 3
	for p := range presets {
		if d := caa.EditDistance(strings.ToLower(s), p); d < bestD || (d == bestD && p < best) {
			best, bestD = p, d
		}
	}
	return best
}

// parsePartner turns one argument of a partners line into partners: a preset, or
// CA[;KEY=VALUE...] checked like an issue value.
func parsePartner(arg string) ([]string, error) {
	if list, ok := presets[strings.ToLower(arg)]; ok {
		return list, nil
	}
	if strings.EqualFold(arg, "none") || strings.EqualFold(arg, "off") {
		return nil, fmt.Errorf("partners %s stands alone on its line; write partners off to add no partner records", arg)
	}
	if !strings.Contains(arg, ";") && strings.Contains(arg, "=") {
		return nil, fmt.Errorf("partner %q: parameters attach to their CA with ';', as in letsencrypt.org;accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/123456", arg)
	}
	if issuer, _, _ := strings.Cut(arg, ";"); !strings.Contains(strings.TrimSuffix(issuer, "."), ".") {
		if near := nearestPreset(issuer); near != "" {
			return nil, fmt.Errorf("partner %q is neither a preset nor a CA domain; did you mean the preset %s?", arg, near)
		}
		return nil, fmt.Errorf("partner %q is neither a preset (cloudflare, aws, google) nor a CA domain such as letsencrypt.org", arg)
	}
	v, err := issueValueFromArgs([]string{arg})
	if err != nil {
		return nil, fmt.Errorf("partner %q: %v; or name a preset: cloudflare, aws, google", arg, err)
	}
	return []string{v}, nil
}

// addPartner adds value to sc unless a partner with the same identifier is there already; the
// first one listed wins, and a different second value is returned as a warning.
func (sc *Scope) addPartner(value, pos string) (warning string, err error) {
	v, err := caa.ParseIssueValue(value)
	if err != nil {
		return "", err
	}
	for _, p := range sc.Partners {
		if p.Issuer == v.Issuer {
			if p.Value != value {
				warning = fmt.Sprintf("partner %s is listed again as %q; the first, %q from %s, is used", v.Issuer, value, p.Value, p.Pos)
			}
			return warning, nil
		}
	}
	sc.Partners = append(sc.Partners, Partner{Issuer: v.Issuer, Value: value, Pos: pos})
	return "", nil
}
