package watch

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// Entry is one query a CA makes for a check, as the block answered it: a CAA query, or a TXT
// query for a dns-persist-01 record the policy publishes (caa.PersistLabel), which belongs to the
// check of the name it validates. It holds no formatted text: formatting happens on the writer
// goroutine, off the serving path.
type Entry struct {
	Time      time.Time
	Client    netip.AddrPort
	Transport string // "udp" or "tcp"
	Name      string // the question name as received
	Type      uint16 // the question type: dns.TypeCAA (or 0), or dns.TypeTXT for dns-persist-01
	EDNS      uint16 // the client's EDNS buffer size, 0 without EDNS
	DO        bool
	Reply     *dns.Msg // the reply written, nil if none was
	Rcode     int      // the rcode returned when no reply was written

	// The RRset served: its owner ("" for none) and how many of its records came from the
	// policy, the zone data and the partners; Source names the mix (policy, merged, partners,
	// passthrough; persist for the policy's dns-persist-01 records).
	Owner                      string
	Policy, ZoneData, Partners int
	Source                     string

	CA   string // the attributed CA, or UnknownCA
	Zone string // the block's zone holding Name: check events group queries within it
	// Label is the zone label of the metrics: a zone block's zone holding Name, else Zone, so
	// that its values are bounded by the Corefile.
	Label string
	// Apex is the zone the zone data answered from (the customer's zone under a catch-all
	// block), "" where the reply did not say: query lines and check events name it, and a
	// check's verdict climbs no higher than it.
	Apex         string
	Server, View string // the metric labels of the server answering

	log *Log // the block that answered
}

// zoneName is the zone a query line names: the zone data's (Apex), else the metrics label.
func (e *Entry) zoneName() string {
	if e.Apex != "" {
		return e.Apex
	}
	if e.Label != "" {
		return e.Label
	}
	return e.Zone
}

// label is the zone label of e's metrics.
func (e *Entry) label() string {
	if e.Label != "" {
		return e.Label
	}
	return e.Zone
}

// logTime is the layout of times in log lines and JSON records: UTC, milliseconds.
const logTime = "2006-01-02T15:04:05.000Z"

// lineClock formats times in logTime for the writer, keeping the text of the last second it
// formatted: queries arrive thousands a second, and formatting a time in full cost a third of
// a query line. The zero value is ready; a lineClock is used by one goroutine.
type lineClock struct {
	sec  int64    // the second text holds, in Unix time
	n    int      // the length of the text; 0 before the first time
	text [48]byte // "2006-01-02T15:04:05." for sec, UTC (longer for years beyond 9999)
}

// appendTime appends t in logTime to b, as t.UTC().AppendFormat(b, logTime) does.
func (c *lineClock) appendTime(b []byte, t time.Time) []byte {
	if sec := t.Unix(); c.n == 0 || sec != c.sec {
		c.sec, c.n = sec, len(t.UTC().AppendFormat(c.text[:0], "2006-01-02T15:04:05."))
	}
	ms := t.Nanosecond() / 1e6 // truncated, as the layout's .000 is
	return append(append(b, c.text[:c.n]...), byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// escapeName makes a name, in the presentation form miekg/dns gives it, safe to print between
// quotes on one line, and recoverable: a backslash becomes \\, a quote \", and a byte outside
// printable ASCII \DDD (as in zone files). Undoing those three gives the name back exactly, and
// a query cannot forge or split log lines.
func escapeName(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return string(appendEscapedName(make([]byte, 0, len(s)+16), s))
		}
	}
	return s
}

// appendEscapedName appends s to b, escaped as escapeName does. Runs of bytes that need no
// escaping, whole names as a rule, are appended at once.
func appendEscapedName(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x21 && c <= 0x7e && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		start = i + 1
		if c == '"' || c == '\\' {
			b = append(b, '\\', c)
		} else {
			b = append(b, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
		}
	}
	return append(b, s[start:]...)
}

// checked returns the name the query checks, lowercase: a CAA query's own name, a dns-persist-01
// query's name without caa.PersistLabel.
func (e *Entry) checked() string {
	name := strings.ToLower(e.Name)
	if e.Type == dns.TypeTXT {
		if validated, ok := strings.CutPrefix(name, caa.PersistLabel+"."); ok {
			return validated
		}
	}
	return name
}

// reply returns the rcode, size and TC bit of what was written for a query.
func (e *Entry) reply() (rcode string, size int, tc bool) {
	if m := e.Reply; m != nil {
		return rcodeText(m.Rcode), m.Len(), m.Truncated
	}
	return rcodeText(e.Rcode), 0, false
}

// rcodeNames holds dns.RcodeToString's names of the rcodes below 32, read once: an array index
// costs less than the map lookup each query line made.
var rcodeNames = func() (names [32]string) {
	for rc := range names {
		names[rc] = dns.RcodeToString[rc]
	}
	return names
}()

// rcodeText is dns.RcodeToString[rc].
func rcodeText(rc int) string {
	if uint(rc) < uint(len(rcodeNames)) {
		return rcodeNames[rc]
	}
	return dns.RcodeToString[rc]
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// queryText is the text log line of a query on node, in the check of key:
//
//	2026-11-23T10:00:00.123Z 192.0.2.1:53211 udp "www.example.org." edns=1232 do=1 NOERROR size=187 tc=0 owner=example.org. policy=3 zone=1 partners=0 source=merged ca=letsencrypt.org node=ns1 check=5f0c9a1e3b7d2c64
func queryText(e *Entry, node string, key checkKey) string {
	return string(appendQueryText(nil, e, node, key))
}

// appendQueryText appends the text log line of a query to b, allocating nothing beyond b.
func appendQueryText(b []byte, e *Entry, node string, key checkKey) []byte {
	var c lineClock
	return c.appendQueryText(b, e, node, key)
}

// appendQueryText is appendQueryText with c formatting the time.
func (c *lineClock) appendQueryText(b []byte, e *Entry, node string, key checkKey) []byte {
	rcode, size, tc := e.reply()
	b = c.appendTime(b, e.Time)
	b = append(b, ' ')
	b = e.Client.AppendTo(b)
	b = append(b, ' ')
	b = append(b, e.Transport...)
	b = append(b, ` "`...)
	b = appendEscapedName(b, e.Name)
	b = append(b, `" edns=`...)
	if e.EDNS > 0 {
		b = strconv.AppendUint(b, uint64(e.EDNS), 10)
	} else {
		b = append(b, "none"...)
	}
	b = append(b, " do="...)
	b = append(b, bit(e.DO)...)
	b = append(b, ' ')
	b = append(b, rcode...)
	b = append(b, " size="...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, " tc="...)
	b = append(b, bit(tc)...)
	b = append(b, " owner="...)
	if e.Owner == "" {
		b = append(b, '-')
	} else {
		b = appendEscapedName(b, e.Owner)
	}
	b = append(b, " policy="...)
	b = strconv.AppendInt(b, int64(e.Policy), 10)
	b = append(b, " zone="...)
	b = strconv.AppendInt(b, int64(e.ZoneData), 10)
	b = append(b, " partners="...)
	b = strconv.AppendInt(b, int64(e.Partners), 10)
	b = append(b, " source="...)
	b = append(b, e.Source...)
	b = append(b, " ca="...)
	b = append(b, e.CA...)
	return appendNodeCheck(b, " node=", node, key)
}

// appendNodeCheck appends the node and the check key to a text line, after sep.
func appendNodeCheck(b []byte, sep, node string, key checkKey) []byte {
	b = append(b, sep...)
	if node == "" {
		b = append(b, '-')
	} else {
		b = append(b, node...)
	}
	b = append(b, " check="...)
	return append(b, key[:]...)
}

// appendQueryJSON appends the JSON object of a query's log line to b, allocating nothing beyond
// b (for a name that needs no escaping). Its fields, in order:
//
//	{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"192.0.2.1:53211","transport":"udp",
//	 "name":"www.example.org.","edns_bufsize":1232,"do":true,"rcode":"NOERROR","size":187,"tc":false,
//	 "owner":"example.org.","records":{"policy":3,"zonedata":1,"partners":0},"source":"merged",
//	 "ca":"letsencrypt.org","zone":"example.org.","server":"dns://:53","view":"...","node":"ns1",
//	 "check":"5f0c9a1e3b7d2c64"}
//
// edns_bufsize is 0 without EDNS; view is left out when empty.
func appendQueryJSON(b []byte, e *Entry, node string, key checkKey) []byte {
	var c lineClock
	return c.appendQueryJSON(b, e, node, key)
}

// appendQueryJSON is appendQueryJSON with c formatting the time.
func (c *lineClock) appendQueryJSON(b []byte, e *Entry, node string, key checkKey) []byte {
	rcode, size, tc := e.reply()
	b = append(b, `{"type":"query","time":"`...)
	b = c.appendTime(b, e.Time)
	b = append(b, `","client":"`...)
	b = e.Client.AppendTo(b)
	b = append(b, `","transport":`...)
	b = appendJSONString(b, e.Transport)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, escapeName(e.Name))
	b = append(b, `,"edns_bufsize":`...)
	b = strconv.AppendUint(b, uint64(e.EDNS), 10)
	b = append(b, `,"do":`...)
	b = strconv.AppendBool(b, e.DO)
	b = append(b, `,"rcode":`...)
	b = appendJSONString(b, rcode)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"tc":`...)
	b = strconv.AppendBool(b, tc)
	b = append(b, `,"owner":`...)
	b = appendJSONString(b, escapeName(e.Owner))
	b = append(b, `,"records":{"policy":`...)
	b = strconv.AppendInt(b, int64(e.Policy), 10)
	b = append(b, `,"zonedata":`...)
	b = strconv.AppendInt(b, int64(e.ZoneData), 10)
	b = append(b, `,"partners":`...)
	b = strconv.AppendInt(b, int64(e.Partners), 10)
	b = append(b, `},"source":`...)
	b = appendJSONString(b, e.Source)
	b = append(b, `,"ca":`...)
	b = appendJSONString(b, e.CA)
	b = append(b, `,"zone":`...)
	b = appendJSONString(b, e.zoneName())
	b = append(b, `,"server":`...)
	b = appendJSONString(b, e.Server)
	if e.View != "" {
		b = append(b, `,"view":`...)
		b = appendJSONString(b, e.View)
	}
	b = append(b, `,"node":`...)
	b = appendJSONString(b, node)
	b = append(b, `,"check":"`...)
	b = append(b, key[:]...)
	return append(b, `"}`...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters are
// escaped, invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			switch c {
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
		}
	}
	return append(b, '"')
}
