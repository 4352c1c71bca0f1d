package projects

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tally/app/errs"
)

// Settings are what a project's General settings change.
type Settings struct {
	Name                string
	Timezone            string
	Domains             []string // CORS allow-list, as typed
	AllowBrowserRevenue bool
}

// Normalize validates settings: a name of 1 to 200 characters, a timezone
// the server knows, and allow-list entries reduced to their hosts
// (duplicates dropped).
func (s Settings) Normalize() (Settings, error) {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || len(s.Name) > 200 {
		return s, errs.E(errs.Invalid, "a project needs a name of 1 to 200 characters")
	}
	s.Timezone = strings.TrimSpace(s.Timezone)
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil || strings.EqualFold(s.Timezone, "local") {
		return s, errs.E(errs.Invalid, "unknown timezone %q: use an IANA name such as Europe/Berlin or UTC", s.Timezone)
	}
	domains := make([]string, 0, len(s.Domains))
	for _, d := range s.Domains {
		if d = NormalizeDomain(d); d == "" {
			continue
		}
		if err := ValidateDomain(d); err != nil {
			return s, err
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	if len(domains) > 100 {
		return s, errs.E(errs.Invalid, "at most 100 allowed domains")
	}
	s.Domains = domains
	return s, nil
}

// CreateIn creates a project (and its default write client) in an existing
// organization.
func (s *Store) CreateIn(ctx context.Context, orgID string, p NewProject) (Created, error) {
	var out Created
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = CreateTx(ctx, tx, orgID, p)
		return err
	})
	return out, err
}

// UpdateSettings validates and stores a project's General settings in one
// statement: either all of them change or none.
func (s *Store) UpdateSettings(ctx context.Context, projectID string, in Settings) (Settings, error) {
	in, err := in.Normalize()
	if err != nil {
		return in, err
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE projects SET name = $2, timezone = $3, domains = $4, allow_browser_revenue = $5
		WHERE id = $1`, projectID, in.Name, in.Timezone, in.Domains, in.AllowBrowserRevenue)
	if err != nil {
		return in, fmt.Errorf("update project settings: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return in, errs.E(errs.NotFound, "no project %q", projectID)
	}
	return in, nil
}

// ClientInfo is an API client as the settings list shows it (never its
// secret, which exists only as a hash).
type ClientInfo struct {
	ID        uuid.UUID
	Name      string
	Type      string
	HasSecret bool
	CreatedAt time.Time
	RevokedAt *time.Time
}

// ClientTypes are the types a client may have, in the order forms offer them.
var ClientTypes = []string{ClientWrite, ClientRead, ClientRoot}

// Clients lists a project's API clients, newest first.
func (s *Store) Clients(ctx context.Context, projectID string) ([]ClientInfo, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, name, type, secret_hash IS NOT NULL, created_at, revoked_at
		FROM clients WHERE project_id = $1 ORDER BY created_at DESC, id`, projectID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClientInfo, error) {
		var c ClientInfo
		err := r.Scan(&c.ID, &c.Name, &c.Type, &c.HasSecret, &c.CreatedAt, &c.RevokedAt)
		return c, err
	})
}

// CreateClient adds an API client with a new secret to a project and
// returns the secret, which is stored only as an argon2id hash: this is
// the one time anyone sees it.
//
// Every client, root included, lives in a project: events it sends are
// stored there (ingest needs a project). A root client's wider power (the
// whole organization) is for the read APIs; it is deleted with the project
// it was created in.
func (s *Store) CreateClient(ctx context.Context, projectID, name, typ string) (ClientInfo, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return ClientInfo{}, "", errs.E(errs.Invalid, "a client needs a name of 1 to 100 characters")
	}
	if !slices.Contains(ClientTypes, typ) {
		return ClientInfo{}, "", errs.E(errs.Invalid, "unknown client type %q: use write, read or root", typ)
	}
	secret := NewSecret()
	hash, err := HashSecret(secret)
	if err != nil {
		return ClientInfo{}, "", errs.Wrap(errs.Internal, err, "hash the client secret")
	}
	c := ClientInfo{ID: uuid.New(), Name: name, Type: typ, HasSecret: true}
	err = s.pool.QueryRow(ctx, `
		INSERT INTO clients (id, organization_id, project_id, name, type, secret_hash)
		SELECT $2, organization_id, id, $3, $4, $5 FROM projects WHERE id = $1
		RETURNING created_at`, projectID, c.ID, name, typ, hash).Scan(&c.CreatedAt)
	if err == pgx.ErrNoRows {
		return ClientInfo{}, "", errs.E(errs.NotFound, "no project %q", projectID)
	}
	if err != nil {
		return ClientInfo{}, "", fmt.Errorf("create client: %w", err)
	}
	return c, secret, nil
}

// RevokeClient revokes a client of a project; revoking twice is harmless.
// A client of another project is NotFound.
func (s *Store) RevokeClient(ctx context.Context, projectID string, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE clients SET revoked_at = coalesce(revoked_at, now())
		WHERE project_id = $1 AND id = $2`, projectID, id)
	if err != nil {
		return fmt.Errorf("revoke client: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "project %q has no client %s", projectID, id)
	}
	return nil
}

// Footprint is what deleting a project removes, for the confirmation page.
// Event counts are left out and profiles are counted up to a cap: counting
// a big project's rows is slow.
type Footprint struct {
	Clients  int
	Filters  int
	Profiles int64 // at most FootprintProfileCap
	Granted  int   // members and viewers given access to it
}

// FootprintProfileCap is where Footprint stops counting profiles.
const FootprintProfileCap = 100_000

// Footprint counts what deleting a project removes.
func (s *Store) Footprint(ctx context.Context, projectID string) (Footprint, error) {
	var f Footprint
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM clients WHERE project_id = $1),
		       (SELECT count(*) FROM project_filters WHERE project_id = $1),
		       (SELECT count(*) FROM (SELECT FROM profiles WHERE project_id = $1 LIMIT $2) p),
		       (SELECT count(*) FROM project_access WHERE project_id = $1)`, projectID, FootprintProfileCap).
		Scan(&f.Clients, &f.Filters, &f.Profiles, &f.Granted)
	return f, err
}

// projectData are the tables that carry a project_id without a foreign key
// (the event store and what ingest derives from it); the rest (clients,
// traffic filters, project access) goes with the project by ON DELETE
// CASCADE. ingest_dedup has no project column: its rows expire on their own.
var projectData = []string{"events", "sessions", "session_heads", "profiles", "profile_identities", "profile_merges", "groups"}

// Delete removes a project and everything stored for it, in one
// transaction. A big project's events are deleted row by row inside it:
// that can take a while and keeps the rows locked until it commits, but
// nothing half-deleted is ever visible. (Events written by an ingest
// request still in flight when the transaction commits may remain as
// orphans under an id nobody can open.)
func (s *Store) Delete(ctx context.Context, projectID string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the project first: two deletes, or a delete and a settings
		// change, do not interleave.
		var id string
		if err := tx.QueryRow(ctx, `SELECT id FROM projects WHERE id = $1 FOR UPDATE`, projectID).Scan(&id); err != nil {
			if err == pgx.ErrNoRows {
				return errs.E(errs.NotFound, "no project %q", projectID)
			}
			return err
		}
		for _, table := range projectData {
			// table names come from the constant list above, never from input.
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE project_id = $1`, projectID); err != nil {
				return fmt.Errorf("delete project %s: %w", table, err)
			}
		}
		// Pending invitations must not grant a project that is gone.
		if _, err := tx.Exec(ctx, `UPDATE invitations SET project_ids = array_remove(project_ids, $1) WHERE $1 = ANY(project_ids)`, projectID); err != nil {
			return fmt.Errorf("delete project from invitations: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM projects WHERE id = $1`, projectID); err != nil {
			return fmt.Errorf("delete project: %w", err)
		}
		return nil
	})
}
