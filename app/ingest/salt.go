package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// salts derives the cookieless device id: a hash of the day's salt, user
// agent, IP and project. The salts live in the database (so every server
// process derives the same ids) and rotate at midnight UTC; yesterday's is
// kept so a visit that crosses midnight stays one visitor.
type salts struct {
	pool  *pgxpool.Pool
	mu    sync.Mutex
	day   time.Time // UTC midnight of `today`
	byDay map[time.Time][]byte
}

func newSalts(pool *pgxpool.Pool) *salts { return &salts{pool: pool} }

// forDay returns today's and yesterday's salts, loading them when the day changes.
func (s *salts) forDay(ctx context.Context, now time.Time) (today, yesterday []byte, err error) {
	day := now.UTC().Truncate(24 * time.Hour)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.day.Equal(day) {
		rows, err := s.pool.Query(ctx, "SELECT day, salt FROM op.ensure_salts_v1($1::date)", day)
		if err != nil {
			return nil, nil, err
		}
		m := map[time.Time][]byte{}
		for rows.Next() {
			var d time.Time
			var salt []byte
			if err := rows.Scan(&d, &salt); err != nil {
				rows.Close()
				return nil, nil, err
			}
			m[d.UTC()] = salt
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		s.byDay, s.day = m, day
	}
	return s.byDay[day], s.byDay[day.Add(-24*time.Hour)], nil
}

// deviceID hashes the visitor's facts with a salt into 32 hex characters.
func deviceID(salt []byte, ua, ip, projectID string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(ua))
	h.Write([]byte{0})
	h.Write([]byte(ip))
	h.Write([]byte{0})
	h.Write([]byte(projectID))
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
