// Package accounts owns the people who log into the dashboard: users and
// their passwords, organization memberships and roles, per-project access,
// invitations and password resets. Access answers one question for every
// dashboard request: may this user see this organization or project, and
// with which role?
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tally/app/errs"
	"tally/app/projects"
)

// Role is a user's role in an organization.
type Role string

const (
	Owner  Role = "owner"  // everything, including owners and the organization itself
	Admin  Role = "admin"  // projects, clients, settings, members other than owners
	Member Role = "member" // the projects granted to them; may build reports
	Viewer Role = "viewer" // read-only, the projects granted to them
)

var rank = map[Role]int{Viewer: 1, Member: 2, Admin: 3, Owner: 4}

// ParseRole validates a role from a form.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if rank[r] == 0 {
		return "", errs.E(errs.Invalid, "unknown role %q: use owner, admin, member or viewer", s)
	}
	return r, nil
}

// AtLeast reports whether r includes the rights of min.
func (r Role) AtLeast(min Role) bool { return rank[r] >= rank[min] }

// SeesAllProjects reports whether the role sees every project of its
// organization without a grant.
func (r Role) SeesAllProjects() bool { return r.AtLeast(Admin) }

// User is a person who logs in.
type User struct {
	ID                 uuid.UUID
	Email              string
	Name               string
	CreatedAt          time.Time
	SessionsValidAfter time.Time
}

// DisplayName is the name, or the email when there is none.
func (u User) DisplayName() string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// Store reads and writes accounts.
type Store struct {
	pool     *pgxpool.Pool
	hasUsers atomic.Bool // once true, stays true: users are never all deleted
	now      func() time.Time
}

func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, now: time.Now} }

// Password limits. Long passphrases are welcome; the cap bounds hashing work.
const (
	MinPassword = 8
	MaxPassword = 256
)

// ValidatePassword checks a new password.
func ValidatePassword(p string) error {
	n := utf8.RuneCountInString(p)
	if n < MinPassword {
		return errs.E(errs.Invalid, "the password needs at least %d characters", MinPassword)
	}
	if len(p) > MaxPassword {
		return errs.E(errs.Invalid, "the password may have at most %d bytes", MaxPassword)
	}
	return nil
}

// NormalizeEmail validates an email address and lowercases it.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", errs.E(errs.Invalid, "%q is not an email address", truncate(s, 80))
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func validName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > 200 {
		return "", errs.E(errs.Invalid, "the name may have at most 200 characters")
	}
	return s, nil
}

// HasUsers reports whether anyone has an account yet; with none, every
// dashboard URL leads to onboarding.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	if s.hasUsers.Load() {
		return true, nil
	}
	var any bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&any); err != nil {
		return false, err
	}
	if any {
		s.hasUsers.Store(true)
	}
	return any, nil
}

// Onboarding is the first start's form: the owner, their organization and
// the first project.
type Onboarding struct {
	Email, Name, Password string
	Organization          string
	Project               string
	Domains               []string
	Timezone              string
}

// onboardLock makes "the first user" a single winner when two browsers
// submit the onboarding form at once.
const onboardLock = int64(0x7461_6c6c_795f_6f62) // "tally_ob"

// Onboard creates the first user as owner of a new organization with its
// first project. It fails with Conflict once any user exists.
func (s *Store) Onboard(ctx context.Context, o Onboarding) (User, projects.Created, error) {
	email, err := NormalizeEmail(o.Email)
	if err != nil {
		return User{}, projects.Created{}, err
	}
	name, err := validName(o.Name)
	if err != nil {
		return User{}, projects.Created{}, err
	}
	if err := ValidatePassword(o.Password); err != nil {
		return User{}, projects.Created{}, err
	}
	hash, err := projects.HashSecret(o.Password)
	if err != nil {
		return User{}, projects.Created{}, errs.Wrap(errs.Internal, err, "hash the password")
	}
	u := User{ID: uuid.New(), Email: email, Name: name}
	var created projects.Created
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, onboardLock); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return errs.E(errs.Conflict, "this server already has an owner: log in instead")
		}
		if err := tx.QueryRow(ctx, `INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
			u.ID, u.Email, u.Name, hash).Scan(&u.CreatedAt); err != nil {
			return err
		}
		orgID, err := projects.CreateOrganizationTx(ctx, tx, o.Organization)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')`, orgID, u.ID); err != nil {
			return err
		}
		created, err = projects.CreateTx(ctx, tx, orgID, projects.NewProject{Name: o.Project, Domains: o.Domains, Timezone: o.Timezone})
		return err
	})
	if err != nil {
		return User{}, projects.Created{}, err
	}
	s.hasUsers.Store(true)
	return u, created, nil
}

// CreateUser adds an account (used by invitations and tests). The email
// must be free.
func (s *Store) CreateUser(ctx context.Context, email, name, password string) (User, error) {
	return s.createUser(ctx, s.pool, email, name, password)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) createUser(ctx context.Context, q querier, email, name, password string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if name, err = validName(name); err != nil {
		return User{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return User{}, err
	}
	hash, err := projects.HashSecret(password)
	if err != nil {
		return User{}, errs.Wrap(errs.Internal, err, "hash the password")
	}
	u := User{ID: uuid.New(), Email: email, Name: name}
	err = q.QueryRow(ctx, `INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		u.ID, u.Email, u.Name, hash).Scan(&u.CreatedAt)
	if isUniqueViolation(err) {
		return User{}, errs.E(errs.Conflict, "an account with this email exists: log in instead")
	}
	if err != nil {
		return User{}, err
	}
	s.hasUsers.Store(true)
	return u, nil
}

func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505"
}

// dummyHash is compared against when an email has no account, so a failed
// login takes as long whether or not the account exists.
var dummyHash = func() string {
	h, _ := projects.HashSecret("not a password anyone has")
	return h
}()

// Authenticate checks an email and password. Any mismatch is the same
// Unauthorized error, so the answer does not reveal which accounts exist.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	bad := errs.E(errs.Unauthorized, "wrong email or password")
	if email == "" || password == "" || len(password) > MaxPassword || len(email) > 254 {
		return User{}, bad
	}
	var u User
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, created_at, sessions_valid_after, password_hash FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.SessionsValidAfter, &hash)
	if err == pgx.ErrNoRows {
		projects.CheckSecret(password, dummyHash)
		return User{}, bad
	}
	if err != nil {
		return User{}, err
	}
	if !projects.CheckSecret(password, hash) {
		return User{}, bad
	}
	return u, nil
}

// User loads a user by id.
func (s *Store) User(ctx context.Context, id uuid.UUID) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, created_at, sessions_valid_after FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.SessionsValidAfter)
	if err == pgx.ErrNoRows {
		return User{}, errs.E(errs.NotFound, "no such user")
	}
	return u, err
}

// UserByEmail loads a user by email.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, created_at, sessions_valid_after FROM users WHERE email = lower($1)`, strings.TrimSpace(email)).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.SessionsValidAfter)
	if err == pgx.ErrNoRows {
		return User{}, errs.E(errs.NotFound, "no account with this email")
	}
	return u, err
}

// newToken returns a one-time token for a link and the hash to store.
func newToken() (token string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
