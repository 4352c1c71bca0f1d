package accounts

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"tally/app/errs"
	"tally/app/projects"
)

// ResetLifetime is how long a password reset link works.
const ResetLifetime = time.Hour

// sessionCutoff is the new users.sessions_valid_after of a password
// change: the next whole second after now. Login sessions carry their
// issue time in whole unix seconds, and a session counts only if it was
// issued at or after the cutoff; every session issued until now is
// therefore older, including one from this very second. The session the
// change re-issues takes the cutoff as its issue time (see
// web.startSession), so it alone survives.
func (s *Store) sessionCutoff() time.Time {
	return s.now().Truncate(time.Second).Add(time.Second)
}

// setPassword stores a new password hash and ends every login session
// issued so far. A second change within the same second moves the cutoff
// on by a second, so a session re-issued by the first change ends too.
// Pending reset links stop working as well.
func (s *Store) setPassword(ctx context.Context, tx pgx.Tx, userID uuid.UUID, hash string) (User, error) {
	var u User
	err := tx.QueryRow(ctx, `
		UPDATE users SET password_hash = $2,
		       sessions_valid_after = greatest($3::timestamptz, sessions_valid_after + interval '1 second')
		WHERE id = $1
		RETURNING id, email, name, created_at, sessions_valid_after`, userID, hash, s.sessionCutoff()).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.SessionsValidAfter)
	if err == pgx.ErrNoRows {
		return User{}, errs.E(errs.NotFound, "no such user")
	}
	if err != nil {
		return User{}, err
	}
	_, err = tx.Exec(ctx, `UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, userID)
	return u, err
}

// ChangePassword checks the current password and sets a new one. Every
// other login session of the user ends; the returned user carries the new
// SessionsValidAfter for re-issuing the caller's own session.
func (s *Store) ChangePassword(ctx context.Context, userID uuid.UUID, current, next string) (User, error) {
	if err := ValidatePassword(next); err != nil {
		return User{}, err
	}
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&hash)
	if err == pgx.ErrNoRows {
		return User{}, errs.E(errs.NotFound, "no such user")
	}
	if err != nil {
		return User{}, err
	}
	if len(current) > MaxPassword || !projects.CheckSecret(current, hash) {
		return User{}, errs.E(errs.Unauthorized, "the current password is wrong")
	}
	newHash, err := projects.HashSecret(next)
	if err != nil {
		return User{}, errs.Wrap(errs.Internal, err, "hash the password")
	}
	var u User
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err = s.setPassword(ctx, tx, userID, newHash)
		return err
	})
	return u, err
}

// CreatePasswordReset makes a one-time link token that lets the owner of
// email set a new password within ResetLifetime. NotFound when no account
// has the email (callers facing the public must not reveal that).
func (s *Store) CreatePasswordReset(ctx context.Context, email string) (string, User, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return "", User{}, err
	}
	token, hash := newToken()
	if _, err := s.pool.Exec(ctx, `INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		hash, u.ID, s.now().Add(ResetLifetime)); err != nil {
		return "", User{}, err
	}
	return token, u, nil
}

// errResetLink is the one answer for unknown, expired and used reset links.
var errResetLink = errs.E(errs.NotFound, "this password reset link is invalid, has expired or has been used")

// PasswordReset returns the user of a usable reset link.
func (s *Store) PasswordReset(ctx context.Context, token string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.email, u.name, u.created_at, u.sessions_valid_after
		FROM password_resets r JOIN users u ON u.id = r.user_id
		WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()`, hashToken(token)).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.SessionsValidAfter)
	if err == pgx.ErrNoRows {
		return User{}, errResetLink
	}
	return u, err
}

// ResetPassword sets a new password through a reset link, once. Every
// login session of the user ends.
func (s *Store) ResetPassword(ctx context.Context, token, password string) (User, error) {
	if err := ValidatePassword(password); err != nil {
		return User{}, err
	}
	if _, err := s.PasswordReset(ctx, token); err != nil {
		return User{}, err // before hashing: unknown links cost no argon2 work
	}
	hash, err := projects.HashSecret(password)
	if err != nil {
		return User{}, errs.Wrap(errs.Internal, err, "hash the password")
	}
	var u User
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var userID uuid.UUID
		err := tx.QueryRow(ctx, `
			UPDATE password_resets SET used_at = now()
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
			RETURNING user_id`, hashToken(token)).Scan(&userID)
		if err == pgx.ErrNoRows {
			return errResetLink
		}
		if err != nil {
			return err
		}
		u, err = s.setPassword(ctx, tx, userID, hash)
		return err
	})
	return u, err
}
