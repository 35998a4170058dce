package watch

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// lineEntries are a query of each kind the lines show: an answer with EDNS and DO, one without
// EDNS, one over TCP, NXDOMAIN in a view, a hostile name, no reply written, a truncated reply.
func lineEntries(t testing.TB) []Entry {
	t.Helper()
	z := newTestZone(t, servedZone)
	udp, tcp := netip.MustParseAddrPort("10.240.0.1:40212"), netip.MustParseAddrPort("192.0.2.9:40212")
	truncated := z.reply("shop.example.org.")
	truncated.Truncated, truncated.Answer = true, nil
	return []Entry{
		{Time: t0, Client: udp, Transport: "udp", Name: "Example.ORG.", EDNS: 1232, DO: true, Reply: z.reply("Example.ORG."),
			Owner: "example.org.", Policy: 1, ZoneData: 1, Partners: 1, Source: "merged", CA: "letsencrypt.org", Zone: "example.org.", Server: "dns://:53"},
		{Time: t0, Client: udp, Transport: "udp", Name: "pol.example.org.", Reply: z.reply("pol.example.org."),
			Owner: "pol.example.org.", Policy: 1, Partners: 2, Source: "policy", CA: "letsencrypt.org", Zone: "example.org.", Server: "dns://:53"},
		{Time: t0, Client: tcp, Transport: "tcp", Name: "wild.example.org.", EDNS: 4096, Reply: z.reply("wild.example.org."),
			Owner: "wild.example.org.", ZoneData: 2, Partners: 4, Source: "partners", CA: UnknownCA, Zone: "example.org.", Server: "dns://:53"},
		{Time: t0, Client: udp, Transport: "udp", Name: "nx.example.org.", EDNS: 1232, Reply: z.reply("nx.example.org."),
			Source: "passthrough", CA: "letsencrypt.org", Zone: "example.org.", Server: "dns://:53", View: "internal"},
		{Time: t0, Client: udp, Transport: "udp", Name: "a\n[ERROR]\x00\".example.org.", EDNS: 1232, Reply: z.reply("a\n[ERROR]\x00\".example.org."),
			Source: "passthrough", CA: "letsencrypt.org", Zone: "example.org.", Server: "dns://:53"},
		{Time: t0, Client: udp, Transport: "udp", Name: "www.example.org.", EDNS: 1232, Rcode: dns.RcodeServerFailure,
			Source: "passthrough", CA: UnknownCA, Zone: "example.org.", Server: "dns://:53"},
		{Time: t0, Client: udp, Transport: "udp", Name: "shop.example.org.", Reply: truncated,
			Source: "passthrough", CA: UnknownCA, Zone: "example.org.", Server: "dns://:53"},
	}
}

// testKey is the check key the line tests format.
var testKey = checkKey([]byte("0123456789abcdef"))

// TestQueryLines checks the exact text line and JSON object of each kind of query, and that
// the size logged is the reply's on the wire.
func TestQueryLines(t *testing.T) {
	for i, tc := range []struct {
		name       string
		size       int
		text, json string
	}{
		{"EDNS and DO", 151,
			`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "Example.ORG." edns=1232 do=1 NOERROR size=151 tc=0 owner=example.org. policy=1 zone=1 partners=1 source=merged ca=letsencrypt.org node=ns1 check=0123456789abcdef`,
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"10.240.0.1:40212","transport":"udp","name":"Example.ORG.","edns_bufsize":1232,"do":true,"rcode":"NOERROR","size":151,"tc":false,"owner":"example.org.","records":{"policy":1,"zonedata":1,"partners":1},"source":"merged","ca":"letsencrypt.org","zone":"example.org.","server":"dns://:53","node":"ns1","check":"0123456789abcdef"}`},
		{"no EDNS", 173,
			`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "pol.example.org." edns=none do=0 NOERROR size=173 tc=0 owner=pol.example.org. policy=1 zone=0 partners=2 source=policy ca=letsencrypt.org node=ns1 check=0123456789abcdef`,
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"10.240.0.1:40212","transport":"udp","name":"pol.example.org.","edns_bufsize":0,"do":false,"rcode":"NOERROR","size":173,"tc":false,"owner":"pol.example.org.","records":{"policy":1,"zonedata":0,"partners":2},"source":"policy","ca":"letsencrypt.org","zone":"example.org.","server":"dns://:53","node":"ns1","check":"0123456789abcdef"}`},
		{"TCP", 132,
			`2026-11-23T10:00:00.123Z 192.0.2.9:40212 tcp "wild.example.org." edns=4096 do=0 NOERROR size=132 tc=0 owner=wild.example.org. policy=0 zone=2 partners=4 source=partners ca=unknown node=ns1 check=0123456789abcdef`,
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"192.0.2.9:40212","transport":"tcp","name":"wild.example.org.","edns_bufsize":4096,"do":false,"rcode":"NOERROR","size":132,"tc":false,"owner":"wild.example.org.","records":{"policy":0,"zonedata":2,"partners":4},"source":"partners","ca":"unknown","zone":"example.org.","server":"dns://:53","node":"ns1","check":"0123456789abcdef"}`},
		{"NXDOMAIN in a view", 116,
			`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "nx.example.org." edns=1232 do=0 NXDOMAIN size=116 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=0123456789abcdef`,
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"10.240.0.1:40212","transport":"udp","name":"nx.example.org.","edns_bufsize":1232,"do":false,"rcode":"NXDOMAIN","size":116,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"letsencrypt.org","zone":"example.org.","server":"dns://:53","view":"internal","node":"ns1","check":"0123456789abcdef"}`},
		{"hostile name", 125,
			`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "a\010[ERROR]\000\".example.org." edns=1232 do=0 NXDOMAIN size=125 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=0123456789abcdef`,
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"10.240.0.1:40212","transport":"udp","name":"a\\010[ERROR]\\000\\\".example.org.","edns_bufsize":1232,"do":false,"rcode":"NXDOMAIN","size":125,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"letsencrypt.org","zone":"example.org.","server":"dns://:53","node":"ns1","check":"0123456789abcdef"}`},
		{"no reply written", 0,
			`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "www.example.org." edns=1232 do=0 SERVFAIL size=0 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=unknown node=ns1 check=0123456789abcdef`,
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"10.240.0.1:40212","transport":"udp","name":"www.example.org.","edns_bufsize":1232,"do":false,"rcode":"SERVFAIL","size":0,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"dns://:53","node":"ns1","check":"0123456789abcdef"}`},
		{"truncated", 34,
			`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "shop.example.org." edns=none do=0 NOERROR size=34 tc=1 owner=- policy=0 zone=0 partners=0 source=passthrough ca=unknown node=ns1 check=0123456789abcdef`,
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"10.240.0.1:40212","transport":"udp","name":"shop.example.org.","edns_bufsize":0,"do":false,"rcode":"NOERROR","size":34,"tc":true,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"dns://:53","node":"ns1","check":"0123456789abcdef"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := lineEntries(t)[i]
			if e.Reply != nil {
				if packed, err := e.Reply.Pack(); err != nil || len(packed) != tc.size {
					t.Errorf("the reply packs to %d bytes (%v), the line says %d", len(packed), err, tc.size)
				}
			}
			if got := queryText(&e, "ns1", testKey); got != tc.text {
				t.Errorf("text\n got %s\nwant %s", got, tc.text)
			}
			if got := string(appendQueryJSON(nil, &e, "ns1", testKey)); got != tc.json {
				t.Errorf("JSON\n got %s\nwant %s", got, tc.json)
			}
		})
	}
}

// TestQueryLineDestinations: a block's text lines carry CoreDNS's prefix, JSON lines none, and
// "log none" writes no query line. Without check events, a query's key is its own name's
// (SHA-256 of "pol.example.org. letsencrypt.org 897714000": t0 in 2s buckets).
func TestQueryLineDestinations(t *testing.T) {
	z := newTestZone(t, servedZone)
	e := lineEntries(t)[1]
	for _, tc := range []struct{ name, line, want string }{
		{"text", "log all", `[INFO] plugin/caapolicy: 2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "pol.example.org." edns=none do=0 NOERROR size=173 tc=0 owner=pol.example.org. policy=1 zone=0 partners=2 source=policy ca=letsencrypt.org node=ns1 check=6221cb5f89e687a7` + "\n"},
		{"json", "log all json", `{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"10.240.0.1:40212","transport":"udp","name":"pol.example.org.","edns_bufsize":0,"do":false,"rcode":"NOERROR","size":173,"tc":false,"owner":"pol.example.org.","records":{"policy":1,"zonedata":0,"partners":2},"source":"policy","ca":"letsencrypt.org","zone":"example.org.","server":"dns://:53","node":"ns1","check":"6221cb5f89e687a7"}` + "\n"},
		{"none", "log none", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			l, _ := testLog(t, z, &out, tc.line, "checks off")
			l.handle(&e)
			l.flush()
			if out.String() != tc.want {
				t.Errorf("got  %q\nwant %q", out.String(), tc.want)
			}
		})
	}
}

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{
		"www.example.org.": "www.example.org.", "a b.": `a\032b.`, "x\r\n.": `x\013\010.`, `q".`: `q\".`, "\xff.": `\255.`,
		`a\ b.`: `a\\\032b.`, `a\\032b.`: `a\\\\032b.`, `a\"b.`: `a\\\"b.`,
	} {
		if got := escapeName(in); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", in, got, want)
		}
	}
	// Names from the wire: a label holding a space, one holding the four bytes \032, and one
	// holding a quote are logged apart, and undoing the escapes gives each name back exactly.
	seen := map[string]string{}
	for _, label := range []string{"a b", `a\032b`, `a"b`, `a\b`} {
		wire := append([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, byte(len(label))}, label...)
		wire = append(wire, 0, 1, 1, 0, 1)
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			t.Fatal(err)
		}
		logged := escapeName(m.Question[0].Name)
		if other, dup := seen[logged]; dup {
			t.Errorf("labels %q and %q are both logged as %s", label, other, logged)
		}
		seen[logged] = label
		back := unescapeLogged(logged)
		if back != m.Question[0].Name {
			t.Errorf("%q logged as %s reads back as %q, want %q", label, logged, back, m.Question[0].Name)
		}
		// The name read back packs to the same wire name.
		q := new(dns.Msg).SetQuestion(back, dns.TypeCAA)
		if b, err := q.Pack(); err != nil || !bytes.Contains(b, wire[12:len(wire)-4]) {
			t.Errorf("%q: read back %q does not pack to the wire name: %v", label, back, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { escapeName("www.example.org.") }); n != 0 {
		t.Errorf("escaping a clean name allocates %v times", n)
	}
}

// unescapeLogged undoes escapeName as README tells a reader to: \\ is a backslash, \" a quote,
// \DDD the byte DDD.
func unescapeLogged(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b = append(b, s[i])
			continue
		}
		if c := s[i+1]; c == '\\' || c == '"' {
			b = append(b, c)
			i++
			continue
		}
		n, _ := strconv.Atoi(s[i+1 : i+4])
		b = append(b, byte(n))
		i += 3
	}
	return string(b)
}

// TestQueryTextAllocations: formatting a line into the writer's buffer allocates nothing but
// what measuring the reply's size does.
func TestQueryTextAllocations(t *testing.T) {
	e := lineEntries(t)[1]
	sizeAllocs := testing.AllocsPerRun(100, func() { e.Reply.Len() })
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { appendQueryText(buf[:0], &e, "ns1", testKey) }); n > sizeAllocs {
		t.Errorf("formatting a text line allocates %v times, want at most %v (the reply's size)", n, sizeAllocs)
	}
}

// queryRecord is the JSON form of a query log line, as encoding/json writes it: the reference
// appendQueryJSON is checked against.
type queryRecord struct {
	Type      string `json:"type"` // "query"
	Time      string `json:"time"`
	Client    string `json:"client"`
	Transport string `json:"transport"`
	Name      string `json:"name"`
	EDNS      int    `json:"edns_bufsize"` // 0 without EDNS
	DO        bool   `json:"do"`
	Rcode     string `json:"rcode"`
	Size      int    `json:"size"`
	TC        bool   `json:"tc"`
	Owner     string `json:"owner"`
	Records   struct {
		Policy   int `json:"policy"`
		ZoneData int `json:"zonedata"`
		Partners int `json:"partners"`
	} `json:"records"`
	Source string `json:"source"`
	CA     string `json:"ca"`
	Zone   string `json:"zone"`
	Server string `json:"server"`
	View   string `json:"view,omitempty"`
	Node   string `json:"node"`
	Check  string `json:"check"`
}

func queryJSON(e *Entry) queryRecord {
	rcode, size, tc := e.reply()
	r := queryRecord{
		Type: "query", Time: e.Time.UTC().Format(logTime), Client: e.Client.String(),
		Transport: e.Transport, Name: escapeName(e.Name), EDNS: int(e.EDNS), DO: e.DO, Rcode: rcode,
		Size: size, TC: tc, Owner: escapeName(e.Owner), Source: e.Source, CA: e.CA,
		Zone: e.Zone, Server: e.Server, View: e.View, Node: "ns1", Check: string(testKey[:]),
	}
	r.Records.Policy, r.Records.ZoneData, r.Records.Partners = e.Policy, e.ZoneData, e.Partners
	return r
}

// TestQueryJSONEncoding checks the hand-written JSON encoder byte for byte against encoding/json,
// for the entries of TestQueryLines and for hostile strings in every field it copies.
func TestQueryJSONEncoding(t *testing.T) {
	entries := lineEntries(t)
	hostile := entries[0]
	hostile.Name = "a\n\"\\\x00\xff.example.org."
	hostile.Zone, hostile.Server, hostile.View = "z\u00e9\x01\".", "dns://[::1]:53\\", "v\xc3"
	hostile.CA, hostile.Owner, hostile.Source, hostile.Transport = "tab\there\b\f\r", "ünï.", "<src>", "u\x7f\x1f"
	entries = append(entries, hostile)
	for i := range entries {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(queryJSON(&entries[i])); err != nil {
			t.Fatal(err)
		}
		got := appendQueryJSON(nil, &entries[i], "ns1", testKey)
		if string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("entry %d\n got %s\nwant %s", i, got, want.String())
		}
	}
	// Characters encoding/json escapes for HTML or JavaScript decode to the same string.
	for _, s := range []string{"<a&b>", "line\u2028sep"} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil || back != s {
			t.Errorf("%q came back as %q (%v)", s, back, err)
		}
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { appendQueryJSON(buf[:0], &entries[1], "ns1", testKey) }); n > 2 {
		t.Errorf("a JSON line allocates %v times, want at most the 2 of measuring the reply", n)
	}
}

// TestLineClock: the writer's clock, reusing the text of the last second, formats every time as
// AppendFormat does, whatever the order of the times: within a second, across seconds and
// days, backwards, before 1970 and beyond year 9999, in other locations.
func TestLineClock(t *testing.T) {
	east := time.FixedZone("east", 5*3600+30*60)
	times := []time.Time{
		t0, t0.Add(876 * time.Millisecond), t0.Add(999999999), t0.Add(time.Second), t0.Add(-1),
		t0.Add(-time.Nanosecond), t0.Add(time.Millisecond - 1), t0.In(east), t0.Add(time.Second).In(east),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, 0), time.Unix(-1, 5e8), time.Unix(-1, 0), time.Date(1969, 12, 31, 23, 59, 59, 1e6, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 42e6, time.UTC), time.Date(-5, 6, 7, 8, 9, 10, 11e6, time.UTC),
		{}, t0, t0,
	}
	now := time.Now()
	for i := range 3000 {
		times = append(times, now.Add(time.Duration(i)*997*time.Microsecond))
	}
	var c lineClock
	for _, tm := range times {
		if got, want := string(c.appendTime([]byte("x"), tm)), "x"+tm.UTC().Format(logTime); got != want {
			t.Errorf("%v: got %q, want %q", tm, got, want)
		}
	}
}
