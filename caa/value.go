package caa

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
)

// Property tags the Corefile writes (RFC 8659 section 4, CA/B Forum Baseline Requirements appendix A).
const (
	TagIssue        = "issue"
	TagIssueWild    = "issuewild"
	TagIodef        = "iodef"
	TagContactEmail = "contactemail"
	TagContactPhone = "contactphone"
	TagIssueMail    = "issuemail" // RFC 9495: S/MIME issuance
	TagIssueVMC     = "issuevmc"  // CA/B Forum Mark Certificate requirements: VMC issuance
)

// IssueValue is the parsed value of an issue or issuewild property (RFC 8659 section 4.2).
// An empty Issuer authorizes nobody. It is safe for concurrent reads: [ParseIssueValue] returns
// new Params each time.
type IssueValue struct {
	Issuer string
	Params []Param
}

// Param is one "tag=value" parameter of an issue or issuewild value. It is a plain value, safe
// for concurrent use.
type Param struct {
	Tag, Value string
}

// String returns the value in the form CAs read: "issuer; tag=value; tag=value", or ";" for nobody.
func (v IssueValue) String() string {
	var b strings.Builder
	b.WriteString(v.Issuer)
	if v.Issuer == "" && len(v.Params) == 0 {
		return ";"
	}
	for _, p := range v.Params {
		b.WriteString("; ")
		b.WriteString(p.Tag)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

// ParseIssueValue parses an issue or issuewild value following the ABNF of RFC 8659 section 4.2:
//
//	issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
//	parameters  = (parameter *WSP ";" *WSP parameters) / parameter
//	parameter   = tag *WSP "=" *WSP value
//
// A value that does not match authorizes nobody; the error says where it stops matching.
func ParseIssueValue(s string) (IssueValue, error) {
	var v IssueValue
	issuer, rest, hasParams := strings.Cut(s, ";")
	issuer = strings.Trim(issuer, " \t")
	if issuer != "" {
		if err := CheckDomainName(issuer); err != nil {
			return v, fmt.Errorf("issuer %q: %w", issuer, err)
		}
		v.Issuer = issuer
	}
	if !hasParams {
		return v, nil
	}
	rest = strings.Trim(rest, " \t")
	if rest == "" {
		return v, nil
	}
	for part := range strings.SplitSeq(rest, ";") {
		part = strings.Trim(part, " \t")
		tag, value, ok := strings.Cut(part, "=")
		if !ok {
			return v, fmt.Errorf("parameter %q is not of the form tag=value", part)
		}
		tag, value = strings.Trim(tag, " \t"), strings.Trim(value, " \t")
		if err := checkLabel(tag); err != nil {
			return v, fmt.Errorf("parameter tag %q: %w", tag, err)
		}
		for i := 0; i < len(value); i++ {
			// value = *(%x21-3A / %x3C-7E)
			if c := value[i]; c < 0x21 || c > 0x7e || c == ';' {
				return v, fmt.Errorf("parameter %s: value %q holds %q, which a parameter value cannot contain", tag, value, c)
			}
		}
		v.Params = append(v.Params, Param{Tag: tag, Value: value})
	}
	return v, nil
}

// CheckDomainName checks issuer-domain-name = label *("." label).
func CheckDomainName(s string) error {
	if len(s) > 253 {
		return errors.New("longer than 253 characters")
	}
	for label := range strings.SplitSeq(s, ".") {
		if err := checkLabel(label); err != nil {
			return err
		}
	}
	return nil
}

// checkLabel checks label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)), which is also the
// syntax of parameter tags and of validation method names.
func checkLabel(s string) error {
	if s == "" {
		return errors.New("empty label")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		if c == '-' && i > 0 && i < len(s)-1 {
			continue
		}
		if c == '-' {
			return fmt.Errorf("%q may not start or end with '-'", s)
		}
		return fmt.Errorf("%q holds %q; only letters, digits and inner hyphens are allowed", s, c)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// CheckTag checks a property tag: at least one ASCII letter or digit and nothing else
// (RFC 8659 section 4.1), at most 255 bytes (the tag length is one octet).
func CheckTag(tag string) error {
	if tag == "" || len(tag) > 255 {
		return errors.New("a tag is 1 to 255 letters and digits")
	}
	for i := 0; i < len(tag); i++ {
		if !isAlnum(tag[i]) {
			return fmt.Errorf("tag %q holds %q; tags are ASCII letters and digits only", tag, tag[i])
		}
	}
	return nil
}

// CheckAccountURI checks the RFC 8657 accounturi parameter: an absolute URI naming one ACME account.
func CheckAccountURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return fmt.Errorf("accounturi %q is not an absolute URI such as https://acme-v02.api.letsencrypt.org/acme/acct/123456", s)
	}
	return nil
}

// CheckACMEAccountURI is CheckAccountURI for a value written by hand: ACME account URIs are
// https URLs (RFC 8555 section 7.3), so any other scheme is a mistake, one no CA would match.
func CheckACMEAccountURI(s string) error {
	if err := CheckAccountURI(s); err != nil {
		return err
	}
	if u, _ := url.Parse(s); !strings.EqualFold(u.Scheme, "https") || u.Host == "" {
		return fmt.Errorf("accounturi %q is not an https URL; ACME account URIs are https URLs such as https://acme-v02.api.letsencrypt.org/acme/acct/123456 (RFC 8555 section 7.3)", s)
	}
	return nil
}

// CheckValidationMethods checks the RFC 8657 validationmethods parameter: a comma-separated list
// of method names such as dns-01,http-01 (label syntax, no spaces).
func CheckValidationMethods(s string) error {
	for m := range strings.SplitSeq(s, ",") {
		if err := checkLabel(m); err != nil {
			return fmt.Errorf("validationmethods %q: %w; write methods as dns-01,http-01", s, err)
		}
	}
	return nil
}

// CheckIodef checks an iodef URL (RFC 8659 section 4.4): mailto: with an address, or https:
// (http:) with a host. It returns insecure=true for http:.
func CheckIodef(s string) (insecure bool, err error) {
	u, err := url.Parse(s)
	if err == nil {
		switch strings.ToLower(u.Scheme) {
		case "mailto":
			if _, e := mail.ParseAddress(u.Opaque); e == nil && u.Opaque != "" {
				return false, nil
			}
		case "https", "http":
			if u.Host != "" {
				return strings.EqualFold(u.Scheme, "http"), nil
			}
		}
	}
	return false, fmt.Errorf("iodef %q is not a mailto: or https: URL; write mailto:security@example.org or https://example.org/caa-report", s)
}

// CheckContactEmail checks a contactemail value: one bare address, no display name.
func CheckContactEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return fmt.Errorf("contactemail %q is not a bare email address; write security@example.org", s)
	}
	return nil
}

// CheckContactPhone checks a contactphone value: an RFC 3966 global number, "+" then digits with
// optional visual separators (- . ( )), at most 15 digits (E.164).
func CheckContactPhone(s string) error {
	digits := 0
	ok := len(s) > 1 && s[0] == '+'
	for i := 1; ok && i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' || c == '.' || c == '(' || c == ')':
		default:
			ok = false
		}
	}
	if !ok || digits == 0 || digits > 15 || s[len(s)-1] < '0' || s[len(s)-1] > '9' {
		return fmt.Errorf("contactphone %q is not an international number; write +1-555-0100 (\"+\", country code, digits)", s)
	}
	return nil
}
