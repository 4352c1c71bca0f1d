package enrich

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestIsPublic(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true},
		{"81.2.69.142", true},
		{"1.1.1.1", true},
		{"100.63.255.255", true},
		{"100.128.0.0", true},
		{"172.15.255.255", true},
		{"172.32.0.0", true},
		{"223.255.255.255", true},
		{"2001:4860:4860::8888", true},
		{"2a00:1450:4001:82a::200e", true},
		{"::ffff:8.8.8.8", true},
		{"fe80::1%eth0", false},

		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.1.2.3", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"127.0.0.1", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::ffff:192.168.1.1", false},
		{"::", false},
		{"::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"2001:2::1", false},
		{"64:ff9b::808:808", false}, // outside 2000::/3
		{"4000::1", false},
	} {
		if got := IsPublic(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("IsPublic(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if IsPublic(netip.Addr{}) {
		t.Error("IsPublic(zero Addr) = true")
	}
}

func TestClientIP(t *testing.T) {
	long := strings.Repeat("1", 10_000)
	manyCommas := strings.Repeat(",", 100_000) + "8.8.8.8"
	manyPrivate := strings.Repeat("10.0.0.1, ", 1000) + "8.8.8.8"
	for _, tc := range []struct {
		name    string
		headers map[string][]string
		remote  string
		trust   bool
		want    string
	}{
		{"peer only", nil, "8.8.4.4:1234", true, "8.8.4.4"},
		{"peer ipv6", nil, "[2001:4860::1]:443", false, "2001:4860::1"},
		{"peer mapped", nil, "[::ffff:8.8.4.4]:443", false, "8.8.4.4"},
		{"peer zone dropped", nil, "[fe80::1%eth0]:443", false, "fe80::1"},
		{"peer without port", nil, "8.8.4.4", false, "8.8.4.4"},
		{"peer garbage", nil, "@", false, ""},
		{"headers ignored when untrusted", map[string][]string{"X-Forwarded-For": {"1.1.1.1"}}, "10.0.0.2:1", false, "10.0.0.2"},

		{"openpanel header wins", map[string][]string{
			"Openpanel-Client-Ip": {"9.9.9.9"},
			"Cf-Connecting-Ip":    {"1.1.1.1"},
			"X-Forwarded-For":     {"8.8.8.8"},
		}, "10.0.0.2:1", true, "9.9.9.9"},
		{"true-client-ip before cf", map[string][]string{"True-Client-Ip": {"1.0.0.1"}, "Cf-Connecting-Ip": {"1.1.1.1"}}, "10.0.0.2:1", true, "1.0.0.1"},
		{"x-client-ip", map[string][]string{"X-Client-Ip": {"1.0.0.1"}}, "10.0.0.2:1", true, "1.0.0.1"},
		{"cf-connecting-ip ipv6", map[string][]string{"Cf-Connecting-Ip": {"2606:4700::1111"}}, "10.0.0.2:1", true, "2606:4700::1111"},
		{"private header skipped", map[string][]string{"Openpanel-Client-Ip": {"192.168.0.5"}, "X-Real-Ip": {"8.8.8.8"}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"xff first public", map[string][]string{"X-Forwarded-For": {"10.0.0.1, 100.64.1.1, 203.0.113.5, 8.8.8.8, 1.1.1.1"}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"xff over several lines", map[string][]string{"X-Forwarded-For": {"10.0.0.1", "unknown, 8.8.8.8"}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"xff with ports and brackets", map[string][]string{"X-Forwarded-For": {"[2001:4860::8888]:443, 8.8.8.8"}}, "10.0.0.2:1", true, "2001:4860::8888"},
		{"xff ipv4 with port", map[string][]string{"X-Forwarded-For": {" 8.8.8.8:5555 "}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"xff mapped", map[string][]string{"X-Forwarded-For": {"::ffff:8.8.8.8"}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"x-real-ip", map[string][]string{"X-Real-Ip": {"8.8.8.8"}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"forwarded simple", map[string][]string{"Forwarded": {"for=8.8.8.8"}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"forwarded quoted ipv6 port", map[string][]string{"Forwarded": {`for="[2001:4860::8888]:4711";proto=https`}}, "10.0.0.2:1", true, "2001:4860::8888"},
		{"forwarded several elements", map[string][]string{"Forwarded": {"for=_hidden;by=10.0.0.1, For=unknown, proto=http;for=192.168.1.1, for=1.1.1.1;host=x"}}, "10.0.0.2:1", true, "1.1.1.1"},
		{"forwarded uppercase key spaces", map[string][]string{"Forwarded": {" FOR = \"8.8.8.8\" "}}, "10.0.0.2:1", true, "8.8.8.8"},
		{"all private falls back to peer", map[string][]string{
			"X-Forwarded-For": {"10.0.0.1, 127.0.0.1"},
			"X-Real-Ip":       {"::1"},
			"Forwarded":       {"for=192.168.0.1"},
		}, "172.17.0.1:4000", true, "172.17.0.1"},

		// Hostile values: bounded work, no panic, fall through cleanly.
		{"garbage", map[string][]string{"X-Forwarded-For": {"not an ip, <script>, 999.1.1.1, 1.2.3, ::::"}}, "8.8.4.4:1", true, "8.8.4.4"},
		{"very long value", map[string][]string{"X-Real-Ip": {long}, "Openpanel-Client-Ip": {long + ":1"}}, "8.8.4.4:1", true, "8.8.4.4"},
		{"many commas hide the entry past the budget", map[string][]string{"X-Forwarded-For": {manyCommas}}, "8.8.4.4:1", true, "8.8.4.4"},
		{"many private entries past the budget", map[string][]string{"X-Forwarded-For": {manyPrivate}}, "8.8.4.4:1", true, "8.8.4.4"},
		{"unterminated bracket", map[string][]string{"X-Forwarded-For": {"[2001:4860::8888"}}, "8.8.4.4:1", true, "8.8.4.4"},
		{"quotes only", map[string][]string{"Forwarded": {`for="`, `for=""`, `for`, `=`, `;;;,,,`}}, "8.8.4.4:1", true, "8.8.4.4"},
		{"zone in header", map[string][]string{"X-Real-Ip": {"2001:4860::1%eth0"}}, "8.8.4.4:1", true, "2001:4860::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClientIP(http.Header(tc.headers), tc.remote, tc.trust)
			want := netip.Addr{}
			if tc.want != "" {
				want = netip.MustParseAddr(tc.want)
			}
			if got != want {
				t.Errorf("ClientIP = %v, want %v", got, want)
			}
		})
	}
}

func TestClientIPNoAllocs(t *testing.T) {
	h := http.Header{
		"X-Forwarded-For": {"10.0.0.1, 8.8.8.8"},
		"Forwarded":       {`for="[2001:db8::1]:80"`},
	}
	if n := testing.AllocsPerRun(100, func() { ClientIP(h, "10.0.0.2:1234", true) }); n != 0 {
		t.Errorf("ClientIP allocates %v times", n)
	}
}

func TestTrustedProxies(t *testing.T) {
	tp, err := ParseTrustedProxies(" 10.0.0.0/8, 172.16.0.0/12\n127.0.0.1 ::1,fd00::/8 ::ffff:192.168.0.0/112 192.168.1.7/24")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"172.20.0.1", true},
		{"127.0.0.1", true},
		{"127.0.0.2", false},
		{"::1", true},
		{"fd12::1", true},
		{"192.168.4.4", true}, // from the mapped entry, converted to 192.168.0.0/16
		{"192.168.1.200", true},
		{"8.8.8.8", false},
		{"2001:4860::1", false},
	} {
		if got := tp.Contains(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if tp.Contains(netip.Addr{}) {
		t.Error("Contains(zero) = true")
	}

	var zero TrustedProxies
	if zero.Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("zero TrustedProxies trusts loopback")
	}
	empty, err := ParseTrustedProxies("  , ")
	if err != nil || empty.Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Errorf("empty list: err=%v", err)
	}
	all, err := ParseTrustedProxies("0.0.0.0/0,::/0")
	if err != nil || !all.Contains(netip.MustParseAddr("8.8.8.8")) || !all.Contains(netip.MustParseAddr("2001:4860::1")) {
		t.Errorf("trust-all list: err=%v", err)
	}

	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.0/8,bogus", "1.2.3.4/x", "[::1]"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q): want error", bad)
		}
	}
}

func BenchmarkClientIP(b *testing.B) {
	h := http.Header{"X-Forwarded-For": {"10.0.0.1, 203.0.113.5, 8.8.8.8"}}
	b.ReportAllocs()
	for b.Loop() {
		ClientIP(h, "10.0.0.2:1234", true)
	}
}
