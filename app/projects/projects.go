// Package projects owns organizations, projects and their API clients: what
// a project allows (domains, revenue) and who may write to it.
package projects

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/errs"
)

// Client types.
const (
	ClientWrite = "write" // ingest only
	ClientRead  = "read"  // export and insights
	ClientRoot  = "root"  // the whole organization
)

// Client is an API client with what authentication needs to know about it.
type Client struct {
	ID                  uuid.UUID
	OrganizationID      string
	ProjectID           string
	Type                string
	SecretHash          string // argon2id; "" when the client has no secret
	Domains             []string
	AllowBrowserRevenue bool
	Revoked             bool
	Filters             []Filter // the project's traffic filters
}

// Created is what `project create` prints: the secret appears here once.
type Created struct {
	OrganizationID string `json:"organizationId"`
	ProjectID      string `json:"projectId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
}

// NewProject is what creating a project needs.
type NewProject struct {
	Organization string // organization name; created if no organization has it
	Name         string
	Domains      []string // CORS allow-list
	Timezone     string
}

// Store reads and writes projects.
type Store struct{ pool *pgxpool.Pool }

func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// hashParams are argon2id's recommended defaults, lighter on memory so a
// burst of logins cannot exhaust a small server.
var hashParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// HashSecret hashes a secret or password with argon2id.
func HashSecret(secret string) (string, error) { return argon2id.CreateHash(secret, hashParams) }

// CheckSecret compares a secret with its hash in constant time.
func CheckSecret(secret, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(secret, hash)
	return err == nil && ok
}

// NewSecret returns a client secret in OpenPanel's format ("sec_" + 20 hex).
func NewSecret() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "sec_" + hex.EncodeToString(b)
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

// newID makes a readable, unguessable id: a slug of the name plus random hex.
func newID(name string) string {
	slug := strings.Trim(slugRe.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(slug) > 24 {
		slug = strings.Trim(slug[:24], "-")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if slug == "" {
		return hex.EncodeToString(b)
	}
	return slug + "-" + hex.EncodeToString(b)
}

// NormalizeDomain reduces an allow-list entry or an Origin header to its
// host: scheme, "www.", path and trailing slash dropped, lowercased.
func NormalizeDomain(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimPrefix(s, "www.")
	return s
}

// ValidateDomain checks one allow-list entry.
func ValidateDomain(d string) error {
	if d == "*" {
		return nil
	}
	host := strings.TrimPrefix(d, "*.")
	if host == "" || len(d) > 253 || strings.ContainsAny(host, " *,;\"'<>\\") {
		return errs.E(errs.Invalid, "invalid domain %q: use example.com, *.example.com or *", d)
	}
	return nil
}

// Create creates the organization (if none has that name), the project and
// a write client with a secret.
func (s *Store) Create(ctx context.Context, p NewProject) (Created, error) {
	var out Created
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		org := strings.TrimSpace(p.Organization)
		if org == "" {
			org = strings.TrimSpace(p.Name)
		}
		var orgID string
		err := tx.QueryRow(ctx, `SELECT id FROM organizations WHERE name = $1 ORDER BY created_at LIMIT 1`, org).Scan(&orgID)
		if err == pgx.ErrNoRows {
			orgID, err = CreateOrganizationTx(ctx, tx, org)
		}
		if err != nil {
			return err
		}
		out, err = CreateTx(ctx, tx, orgID, p)
		return err
	})
	return out, err
}

// CreateOrganizationTx creates an organization and returns its id.
func CreateOrganizationTx(ctx context.Context, tx pgx.Tx, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", errs.E(errs.Invalid, "an organization needs a name of 1 to 200 characters")
	}
	id := newID(name)
	if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $2)`, id, name); err != nil {
		return "", fmt.Errorf("create organization: %w", err)
	}
	return id, nil
}

// CreateTx creates a project in an existing organization, with a write
// client and its secret, inside the caller's transaction.
func CreateTx(ctx context.Context, tx pgx.Tx, orgID string, p NewProject) (Created, error) {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 200 {
		return Created{}, errs.E(errs.Invalid, "a project needs a name of 1 to 200 characters")
	}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(p.Timezone); err != nil {
		return Created{}, errs.E(errs.Invalid, "unknown timezone %q", p.Timezone)
	}
	domains := make([]string, 0, len(p.Domains))
	for _, d := range p.Domains {
		if d = NormalizeDomain(d); d == "" {
			continue
		}
		if err := ValidateDomain(d); err != nil {
			return Created{}, err
		}
		domains = append(domains, d)
	}
	secret := NewSecret()
	hash, err := HashSecret(secret)
	if err != nil {
		return Created{}, errs.Wrap(errs.Internal, err, "hash the client secret")
	}
	out := Created{OrganizationID: orgID, ProjectID: newID(p.Name), ClientID: uuid.NewString(), ClientSecret: secret}
	if _, err := tx.Exec(ctx, `INSERT INTO projects (id, organization_id, name, domains, timezone) VALUES ($1, $2, $3, $4, $5)`,
		out.ProjectID, out.OrganizationID, p.Name, domains, p.Timezone); err != nil {
		return Created{}, fmt.Errorf("create project: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO clients (id, organization_id, project_id, name, type, secret_hash) VALUES ($1, $2, $3, $4, 'write', $5)`,
		out.ClientID, out.OrganizationID, out.ProjectID, "Default", hash); err != nil {
		return Created{}, fmt.Errorf("create client: %w", err)
	}
	return out, nil
}

// Client loads a client and its project's ingest settings.
func (s *Store) Client(ctx context.Context, id uuid.UUID) (Client, error) {
	var c Client
	var secret *string
	var projectID *string
	err := s.pool.QueryRow(ctx, `
		SELECT c.id, c.organization_id, c.project_id, c.type, c.secret_hash, c.revoked_at IS NOT NULL,
		       coalesce(p.domains, '{}'), coalesce(p.allow_browser_revenue, false),
		       coalesce((SELECT jsonb_agg(jsonb_build_object('id', f.id, 'kind', f.kind, 'field', f.field, 'op', f.op, 'value', f.value) ORDER BY f.id)
		                 FROM project_filters f WHERE f.project_id = c.project_id), '[]')
		FROM clients c LEFT JOIN projects p ON p.id = c.project_id
		WHERE c.id = $1`, id).Scan(&c.ID, &c.OrganizationID, &projectID, &c.Type, &secret, &c.Revoked, &c.Domains, &c.AllowBrowserRevenue, &c.Filters)
	if err == pgx.ErrNoRows {
		return Client{}, errs.E(errs.NotFound, "unknown client")
	}
	if err != nil {
		return Client{}, err
	}
	if secret != nil {
		c.SecretHash = *secret
	}
	if projectID != nil {
		c.ProjectID = *projectID
	}
	return c, nil
}

// SetDomains replaces a project's allow-list.
func (s *Store) SetDomains(ctx context.Context, projectID string, domains []string) error {
	norm := make([]string, 0, len(domains))
	for _, d := range domains {
		d = NormalizeDomain(d)
		if err := ValidateDomain(d); err != nil {
			return err
		}
		norm = append(norm, d)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE projects SET domains = $2 WHERE id = $1`, projectID, norm)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "no project %q", projectID)
	}
	return nil
}

// SetBrowserRevenue sets whether browsers may send __revenue.
func (s *Store) SetBrowserRevenue(ctx context.Context, projectID string, allow bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE projects SET allow_browser_revenue = $2 WHERE id = $1`, projectID, allow)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "no project %q", projectID)
	}
	return nil
}

// OriginAllowed reports whether a browser Origin matches the allow-list.
func OriginAllowed(origin string, domains []string) bool {
	host := NormalizeDomain(origin)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i] // the port does not matter
	}
	if host == "" {
		return false
	}
	for _, d := range domains {
		switch {
		case d == "*":
			return true
		case strings.HasPrefix(d, "*."):
			base := d[2:]
			if host == base || strings.HasSuffix(host, "."+base) {
				return true
			}
		default:
			if i := strings.LastIndexByte(d, ':'); i >= 0 {
				if NormalizeDomain(origin) == d { // an entry with a port must match it
					return true
				}
				continue
			}
			if host == d {
				return true
			}
		}
	}
	return false
}
