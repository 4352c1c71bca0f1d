package projects

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"tally/app/errs"
)

// Filter kinds: traffic a project never stores.
const (
	FilterIP      = "ip"      // an address or CIDR ("exclude my office")
	FilterProfile = "profile" // a profile id (a test account)
	FilterEvent   = "event"   // an event whose Field matches Value by Op
)

// Operators of event filters. No regular expressions: a filter runs on
// every event and must stay cheap.
var FilterOps = []string{"is", "is_not", "contains", "starts_with", "ends_with", "matches"} // matches: * wildcards

// FilterFields are the event fields a filter may test, besides properties.<key>.
var FilterFields = []string{"name", "path", "origin", "query", "referrer", "referrer_name", "referrer_type",
	"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "country", "region", "city",
	"os", "browser", "device", "brand", "model", "sdk_name"}

// Filter is one rule of a project's traffic filters.
type Filter struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Field string `json:"field,omitempty"`
	Op    string `json:"op,omitempty"`
	Value string `json:"value"`
}

// Normalize validates a filter and fills its defaults.
func (f Filter) Normalize() (Filter, error) {
	f.Value = strings.TrimSpace(f.Value)
	if f.Value == "" || len(f.Value) > 500 {
		return f, errs.E(errs.Invalid, "a filter needs a value of 1 to 500 characters")
	}
	switch f.Kind {
	case FilterIP:
		if p, err := netip.ParsePrefix(f.Value); err == nil {
			f.Value = p.Masked().String()
		} else if a, err := netip.ParseAddr(f.Value); err == nil {
			f.Value = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()
		} else {
			return f, errs.E(errs.Invalid, "%q is not an IP address or CIDR range", f.Value)
		}
		f.Field, f.Op = "", ""
	case FilterProfile:
		f.Field, f.Op = "", ""
	case FilterEvent:
		if f.Field == "" {
			f.Field = "name"
		}
		if f.Op == "" {
			f.Op = "is"
			if strings.Contains(f.Value, "*") {
				f.Op = "matches"
			}
		}
		if !slices.Contains(FilterFields, f.Field) && !(strings.HasPrefix(f.Field, "properties.") && len(f.Field) > len("properties.")) {
			return f, errs.E(errs.Invalid, "cannot filter on %q: use one of %s or properties.<key>", f.Field, strings.Join(FilterFields, ", "))
		}
		if !slices.Contains(FilterOps, f.Op) {
			return f, errs.E(errs.Invalid, "unknown operator %q: use one of %s", f.Op, strings.Join(FilterOps, ", "))
		}
	default:
		return f, errs.E(errs.Invalid, "unknown filter kind %q: use ip, profile or event", f.Kind)
	}
	return f, nil
}

// AddFilter adds a traffic filter to a project.
func (s *Store) AddFilter(ctx context.Context, projectID string, f Filter) (Filter, error) {
	f, err := f.Normalize()
	if err != nil {
		return f, err
	}
	err = s.pool.QueryRow(ctx, `
		INSERT INTO project_filters (project_id, kind, field, op, value)
		SELECT id, $2, nullif($3, ''), nullif($4, ''), $5 FROM projects WHERE id = $1
		RETURNING id`, projectID, f.Kind, f.Field, f.Op, f.Value).Scan(&f.ID)
	if errs.KindOf(err) == errs.NotFound {
		return f, errs.E(errs.NotFound, "no project %q", projectID)
	}
	return f, err
}

// Filters lists a project's traffic filters.
func (s *Store) Filters(ctx context.Context, projectID string) ([]Filter, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, kind, coalesce(field, ''), coalesce(op, ''), value
		FROM project_filters WHERE project_id = $1 ORDER BY id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Filter{}
	for rows.Next() {
		var f Filter
		if err := rows.Scan(&f.ID, &f.Kind, &f.Field, &f.Op, &f.Value); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// RemoveFilter deletes one filter of a project.
func (s *Store) RemoveFilter(ctx context.Context, projectID string, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM project_filters WHERE project_id = $1 AND id = $2`, projectID, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "project %q has no filter %d", projectID, id)
	}
	return nil
}
