// Package dnsname holds the name helpers that the per-query code of caapolicy and its watcher
// share: they work on names in presentation form without allocating.
package dnsname

// Lower writes the lowercase form of name into buf and returns it; buf must have room for 255
// bytes so that no allocation happens for a valid name.
func Lower(buf []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// AtOrBelow reports whether the lowercase name n is parent or a name below it. Unlike
// dns.IsSubDomain it does not allocate, as it runs for every logged query.
func AtOrBelow(n, parent string) bool {
	switch {
	case n == parent || parent == ".":
		return true
	case len(n) <= len(parent) || n[len(n)-len(parent)-1] != '.' || n[len(n)-len(parent):] != parent:
		return false
	}
	// The dot must end a label: an odd run of backslashes before it makes it "\.", part of one.
	escapes := 0
	for i := len(n) - len(parent) - 2; i >= 0 && n[i] == '\\'; i-- {
		escapes++
	}
	return escapes%2 == 0
}

// LowerString returns s in lowercase ASCII: s itself, without allocating, when it has no
// uppercase letter.
func LowerString(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return string(Lower(make([]byte, 0, len(s)), s))
		}
	}
	return s
}
