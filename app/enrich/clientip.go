package enrich

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// clientIPHeaders are consulted, in this order, when proxy headers are
// trusted. The order goes from the most specific signal to the most generic:
// an SDK that forwards the end user's address on purpose (server-side
// tracking) beats what a CDN saw, which beats a generic proxy chain. Keys are
// in canonical MIME form so we can index the http.Header map directly instead
// of paying for canonicalisation on every request.
var clientIPHeaders = [...]string{
	"Openpanel-Client-Ip",
	"True-Client-Ip",
	"X-Client-Ip",
	"Cf-Connecting-Ip",
	"X-Forwarded-For",
	"X-Real-Ip",
}

const (
	// maxEntriesPerHeader bounds the work done on one header (summed over all
	// of its lines) so that a hostile client sending "1,1,1,1,..." cannot make
	// us parse megabytes of commas.
	maxEntriesPerHeader = 32
	// maxAddrLen is longer than any textual address we accept, including an
	// IPv6 address in brackets with a port and quotes; anything longer is junk.
	maxAddrLen = 64
)

// ClientIP returns the caller's address: when trustHeaders is true, the first
// public address among headers openpanel-client-ip, true-client-ip,
// x-client-ip, cf-connecting-ip, x-forwarded-for (first public entry),
// x-real-ip, forwarded (for=, handle quotes, brackets and ports); private,
// loopback, link-local, unspecified and invalid values are skipped. Otherwise
// (or when none qualify) the peer address from remoteAddr ("ip:port").
//
// Callers decide trustHeaders, normally with [TrustedProxies.Contains] on the
// peer address: every one of these headers is trivially forged by a client
// that talks to us directly. X-Forwarded-For is read left to right (the
// original client first), which is only meaningful when every proxy in front
// of us is trusted.
//
// IPv4-mapped IPv6 addresses are unmapped and zones are dropped. The result is
// the zero netip.Addr when remoteAddr cannot be parsed and no header
// qualified. ClientIP does not allocate.
func ClientIP(h http.Header, remoteAddr string, trustHeaders bool) netip.Addr {
	if trustHeaders && len(h) > 0 {
		for _, key := range clientIPHeaders {
			if ip, ok := firstPublicInList(h[key]); ok {
				return ip
			}
		}
		if ip, ok := firstPublicForwarded(h["Forwarded"]); ok {
			return ip
		}
	}
	return peerAddr(remoteAddr)
}

// firstPublicInList scans comma-separated address lists (X-Forwarded-For
// style, possibly spread over several header lines) for the first public
// address. Single-address headers go through the same path: it costs nothing
// and copes with proxies that wrongly append to them.
func firstPublicInList(values []string) (netip.Addr, bool) {
	budget := maxEntriesPerHeader
	for _, v := range values {
		for v != "" {
			if budget == 0 {
				return netip.Addr{}, false
			}
			budget--
			var entry string
			entry, v, _ = strings.Cut(v, ",")
			if ip, ok := parseLooseAddr(entry); ok && IsPublic(ip) {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

// firstPublicForwarded scans RFC 7239 Forwarded headers, e.g.
//
//	Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"
//
// for the first element whose for= parameter is a public address. Obfuscated
// identifiers ("_hidden", "unknown") simply fail to parse and are skipped.
func firstPublicForwarded(values []string) (netip.Addr, bool) {
	budget := maxEntriesPerHeader
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			for elem != "" {
				if budget == 0 {
					return netip.Addr{}, false
				}
				budget--
				var pair string
				pair, elem, _ = strings.Cut(elem, ";")
				key, val, ok := strings.Cut(pair, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(key), "for") {
					continue
				}
				if ip, ok := parseLooseAddr(val); ok && IsPublic(ip) {
					return ip, true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// parseLooseAddr accepts the address spellings proxies actually emit:
// "1.2.3.4", "1.2.3.4:567", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80",
// any of them wrapped in double quotes and surrounded by spaces.
func parseLooseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	if s == "" || len(s) > maxAddrLen {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		s = s[1:end]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// Exactly one colon can only be IPv4 with a port; IPv6 has at least two.
		s = s[:i]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

// peerAddr parses http.Request.RemoteAddr, which is "ip:port" for TCP peers
// but may be a bare address in tests or behind some listeners.
func peerAddr(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if ip, ok := parseLooseAddr(remoteAddr); ok {
		return ip
	}
	return netip.Addr{}
}

// v4Range is an IPv4 prefix as (network, mask) so that the hot check is two
// integer operations instead of netip.Prefix.Contains.
type v4Range struct{ net, mask uint32 }

// nonPublic4 lists the IPv4 special-purpose ranges (IANA registry, RFC 6890
// and successors) that never identify a real visitor on the public internet.
var nonPublic4 = mustV4Ranges(
	"0.0.0.0/8",       // "this network", includes unspecified
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT shared space
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, includes limited broadcast
)

// nonPublic6 lists special ranges inside 2000::/3, the only IPv6 block that is
// allocated as global unicast (everything outside it is rejected up front).
var nonPublic6 = []netip.Prefix{
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("3fff::/20"),     // documentation (RFC 9637)
	netip.MustParsePrefix("2001:2::/48"),   // benchmarking
	netip.MustParsePrefix("2001:10::/28"),  // ORCHID (deprecated)
	netip.MustParsePrefix("2001:20::/28"),  // ORCHIDv2
}

func mustV4Ranges(cidrs ...string) []v4Range {
	out := make([]v4Range, len(cidrs))
	for i, c := range cidrs {
		p := netip.MustParsePrefix(c)
		a := p.Addr().As4()
		mask := ^uint32(0) << (32 - p.Bits())
		out[i] = v4Range{net: binary.BigEndian.Uint32(a[:]) & mask, mask: mask}
	}
	return out
}

// IsPublic reports whether ip is a globally routable unicast address, i.e.
// one that can plausibly belong to a visitor. Private, loopback, link-local,
// multicast, unspecified, CGNAT (100.64.0.0/10), documentation, benchmarking
// and reserved ranges are not public, and neither is the invalid zero Addr.
// IPv4-mapped IPv6 addresses are judged as IPv4.
func IsPublic(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		v := binary.BigEndian.Uint32(a[:])
		for _, r := range nonPublic4 {
			if v&r.mask == r.net {
				return false
			}
		}
		return true
	}
	a := ip.As16()
	if a[0]&0xe0 != 0x20 { // not in 2000::/3
		return false
	}
	ip = ip.WithZone("") // Prefix.Contains never matches zoned addresses
	for _, p := range nonPublic6 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// TrustedProxies parses a comma-separated list of CIDRs/IPs; Contains(peer)
// says if headers may be trusted.
//
// The zero value trusts nobody, which is the safe default for a server that
// is reachable directly.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses a comma- and/or whitespace-separated list such as
// "10.0.0.0/8, 172.16.0.0/12, 127.0.0.1, ::1". Bare addresses mean a single
// host. IPv4-mapped IPv6 entries are converted to IPv4 so that they match
// unmapped peers. An empty string yields a list that trusts nobody.
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	var t TrustedProxies
	for _, f := range fields {
		p, err := parseProxyEntry(f)
		if err != nil {
			return TrustedProxies{}, err
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

func parseProxyEntry(f string) (netip.Prefix, error) {
	if strings.Contains(f, "/") {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxies: invalid CIDR %.64q: %w", f, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(f)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted proxies: invalid address %.64q: %w", f, err)
	}
	ip = ip.Unmap().WithZone("")
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// Contains reports whether ip (normally the TCP peer) is one of the trusted
// proxies, i.e. whether its forwarding headers may be believed.
func (t TrustedProxies) Contains(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
