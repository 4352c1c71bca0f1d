package enrich

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxUTMLen caps each UTM value, in characters. Campaign tags are short by
// nature; anything longer is junk or abuse and would bloat every row.
const maxUTMLen = 255

// Page is a page URL split into the parts analytics groups by.
type Page struct {
	Origin, Path, Query, Hash                              string // from a full page URL; for a non-URL route name (mobile apps: "HomeScreen" or "/settings") Origin="" and Path=the raw value
	UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent string
}

// ParsePage splits a page URL as sent by an SDK (location.href on the web, a
// route name in mobile apps).
//
// For a URL ("scheme://authority/..."):
//   - Origin is the lower-cased scheme and host, with the port kept unless it
//     is the scheme's default, without userinfo and without a trailing slash:
//     "https://example.com", "http://localhost:3000", "capacitor://localhost".
//   - Path is percent-decoded when that yields clean UTF-8 text and kept
//     verbatim otherwise (a malformed escape must not lose the page); it is
//     "/" when the URL has none.
//   - Query is the raw text between '?' and '#', Hash the raw text after the
//     first '#', both without their delimiter.
//   - UTM fields come from the utm_source, utm_medium, utm_campaign, utm_term
//     and utm_content query parameters (names case-insensitive, first
//     non-empty value, decoded, trimmed, at most 255 characters). Only utm_*
//     is honoured: "ref" or "source" mean different things on different
//     sites.
//
// Hash routers ("https://a.com/#/about?utm_source=x") keep their route in the
// fragment, so we leave Path as "/" and Hash as "/about?utm_source=x" — the
// literal URL, which is what the site owner will recognise — but UTM fields
// that the real query string does not set are taken from the query part of
// the fragment, because that is where such sites' campaign links put them.
//
// Anything else (no "scheme://", or an http(s) URL without a host) is treated
// as an app route name: Origin, Query and Hash are empty and Path is the
// input with surrounding white space removed. ParsePage never panics.
func ParsePage(raw string) Page {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Page{}
	}
	scheme, rest, ok := cutScheme(s)
	if !ok {
		return Page{Path: s}
	}
	rest, hash, _ := strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	scheme = strings.ToLower(scheme)
	host := strings.ToLower(authority)
	if host == "" && (scheme == "http" || scheme == "https") {
		return Page{Path: s}
	}
	switch {
	case scheme == "http":
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https":
		host = strings.TrimSuffix(host, ":443")
	}

	p := Page{
		Origin: scheme + "://" + host,
		Path:   decodePath(path),
		Query:  query,
		Hash:   hash,
	}
	fillUTM(&p, query)
	if _, hashQuery, ok := strings.Cut(hash, "?"); ok {
		fillUTM(&p, hashQuery)
	}
	return p
}

// cutScheme splits "scheme://rest". The scheme must be RFC 3986 shaped so
// that "HomeScreen" or "Note: see https://x" are not mistaken for URLs.
func cutScheme(s string) (scheme, rest string, ok bool) {
	i := strings.Index(s, "://")
	if i <= 0 || !validScheme(s[:i]) {
		return "", "", false
	}
	return s[:i], s[i+3:], true
}

// decodePath percent-decodes p when the result is printable UTF-8, so that
// "/caf%C3%A9" is stored as "/café" but "/100%" or "/%FF" stay as sent.
func decodePath(p string) string {
	if p == "" {
		return "/"
	}
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	d, err := url.PathUnescape(p)
	if err != nil || !utf8.ValidString(d) || hasControl(d) {
		return p
	}
	return d
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// fillUTM sets the UTM fields of p that are still empty from query q.
func fillUTM(p *Page, q string) {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if len(k) < len("utm_term") || !strings.EqualFold(k[:4], "utm_") {
			continue // cheap reject for the common non-UTM parameter
		}
		var dst *string
		switch {
		case strings.EqualFold(k, "utm_source"):
			dst = &p.UTMSource
		case strings.EqualFold(k, "utm_medium"):
			dst = &p.UTMMedium
		case strings.EqualFold(k, "utm_campaign"):
			dst = &p.UTMCampaign
		case strings.EqualFold(k, "utm_term"):
			dst = &p.UTMTerm
		case strings.EqualFold(k, "utm_content"):
			dst = &p.UTMContent
		default:
			continue
		}
		if *dst == "" {
			*dst = cleanUTMValue(v)
		}
	}
}

// cleanUTMValue decodes a query value leniently (a broken escape keeps the
// raw text rather than dropping the campaign), then makes it valid UTF-8
// without control characters, trims and bounds it.
func cleanUTMValue(v string) string {
	if d, err := url.QueryUnescape(v); err == nil {
		v = d
	} else {
		v = strings.ReplaceAll(v, "+", " ")
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "")
	}
	if hasControl(v) {
		// Control characters (NUL above all, which PostgreSQL text rejects)
		// have no business in a campaign tag.
		v = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, v)
	}
	return truncateRunes(strings.TrimSpace(v), maxUTMLen)
}

// truncateRunes cuts s to at most n characters without splitting one, and
// trims white space the cut may have exposed.
func truncateRunes(s string, n int) string {
	if len(s) <= n { // byte length bounds rune count
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return strings.TrimSpace(s[:i])
		}
		count++
	}
	return s
}
