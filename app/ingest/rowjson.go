package ingest

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRows encodes a batch as op.ingest_v1 reads it: a JSON array of
// objects keyed by the composite type's field names, empty values left out
// (NULL). It writes what encoding/json would for []Row (TestAppendRows holds
// it to that) without reflection: encoding the batch was a sixth of the
// server's CPU per event. Properties must be valid JSON (buildRow makes it
// with json.Marshal).
func appendRows(b []byte, rows []Row) []byte {
	b = append(b, '[')
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, &rows[i])
	}
	return append(b, ']')
}

func appendRow(b []byte, r *Row) []byte {
	b = append(b, `{"ord":`...)
	b = strconv.AppendInt(b, int64(r.Ord), 10)
	b = append(b, `,"id":"`...)
	b = append(b, r.ID.String()...)
	b = append(b, '"')
	b = appendField(b, "project_id", r.ProjectID, true)
	b = appendField(b, "name", r.Name, true)
	b = appendField(b, "device_id", r.DeviceID, true)
	b = appendField(b, "prev_device_id", r.PrevDeviceID, false)
	b = appendField(b, "profile_id", r.ProfileID, false)
	b = append(b, `,"created_at":"`...)
	b = r.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","opens_session":`...)
	b = strconv.AppendBool(b, r.OpensSession)
	b = appendField(b, "dedup_key", r.DedupKey, false)
	b = appendField(b, "path", r.Path, false)
	b = appendField(b, "origin", r.Origin, false)
	b = appendField(b, "query", r.Query, false)
	b = appendField(b, "hash", r.Hash, false)
	b = appendField(b, "referrer", r.Referrer, false)
	b = appendField(b, "referrer_name", r.ReferrerName, false)
	b = appendField(b, "referrer_type", r.ReferrerType, false)
	b = appendField(b, "utm_source", r.UTMSource, false)
	b = appendField(b, "utm_medium", r.UTMMedium, false)
	b = appendField(b, "utm_campaign", r.UTMCampaign, false)
	b = appendField(b, "utm_term", r.UTMTerm, false)
	b = appendField(b, "utm_content", r.UTMContent, false)
	b = appendField(b, "country", r.Country, false)
	b = appendField(b, "region", r.Region, false)
	b = appendField(b, "city", r.City, false)
	b = appendFloat(b, "latitude", r.Latitude)
	b = appendFloat(b, "longitude", r.Longitude)
	b = appendField(b, "os", r.OS, false)
	b = appendField(b, "os_version", r.OSVersion, false)
	b = appendField(b, "browser", r.Browser, false)
	b = appendField(b, "browser_version", r.BrowserVersion, false)
	b = appendField(b, "device", r.Device, false)
	b = appendField(b, "brand", r.Brand, false)
	b = appendField(b, "model", r.Model, false)
	b = appendInt(b, "duration", r.Duration)
	b = appendInt(b, "revenue", r.Revenue)
	if len(r.Groups) > 0 {
		b = append(b, `,"groups":[`...)
		for i, g := range r.Groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, g)
		}
		b = append(b, ']')
	}
	b = appendField(b, "sdk_name", r.SDKName, false)
	b = appendField(b, "sdk_version", r.SDKVersion, false)
	if len(r.Properties) > 0 {
		b = append(b, `,"properties":`...)
		b = append(b, r.Properties...)
	}
	if r.SkipProfile {
		b = append(b, `,"skip_profile":true`...)
	}
	return append(b, '}')
}

// appendField appends ,"key":"value"; an empty value only if always.
func appendField(b []byte, key, v string, always bool) []byte {
	if v == "" && !always {
		return b
	}
	return appendString(appendKey(b, key), v)
}

// appendInt appends ,"key":v unless v is nil.
func appendInt(b []byte, key string, v *int64) []byte {
	if v == nil {
		return b
	}
	b = appendKey(b, key)
	return strconv.AppendInt(b, *v, 10)
}

// appendKey appends ,"key": (keys are our own field names: nothing to escape).
func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendFloat appends ,"key":v; nil, NaN and infinities (which JSON cannot
// say, and encoding/json refused with an error for the whole batch) are
// left out.
func appendFloat(b []byte, key string, v *float64) []byte {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return b
	}
	return strconv.AppendFloat(appendKey(b, key), *v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
