package seed

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
)

// copyBuf builds a COPY ... FROM STDIN (FORMAT binary) stream by hand: no
// boxing of every value into an interface and no per-value encoding plans,
// which is what lets one core generate rows faster than PostgreSQL stores
// them. The layout is PostgreSQL's binary COPY format: a header, per row a
// field count and per field a length (-1 for NULL) and the value in the
// type's binary send format, and a trailer.
type copyBuf struct {
	b    []byte
	rows int
}

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// pgEpochMs is 2000-01-01 in Unix milliseconds: binary timestamps count
// microseconds from there.
const pgEpochMs = 946_684_800_000

func newCopyBuf(size int) *copyBuf {
	c := &copyBuf{b: make([]byte, 0, size)}
	c.b = append(c.b, copyHeader...)
	return c
}

func (c *copyBuf) reset() {
	c.b = append(c.b[:0], copyHeader...)
	c.rows = 0
}

func (c *copyBuf) row(fields int) {
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields))
	c.rows++
}

func (c *copyBuf) null() { c.b = binary.BigEndian.AppendUint32(c.b, math.MaxUint32) }

func (c *copyBuf) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

// textOrNull stores "" as NULL, as ingest does for absent fields.
func (c *copyBuf) textOrNull(s string) {
	if s == "" {
		c.null()
		return
	}
	c.text(s)
}

func (c *copyBuf) uuid(u *[16]byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, 16)
	c.b = append(c.b, u[:]...)
}

// ts stores a timestamptz given in Unix milliseconds.
func (c *copyBuf) ts(ms int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64((ms-pgEpochMs)*1000))
}

func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyBuf) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

func (c *copyBuf) bool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}

// float8OrNull stores a coordinate; places without one (no GeoIP answer)
// have an empty country and get NULL.
func (c *copyBuf) float8(v float64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, math.Float64bits(v))
}

// jsonb stores a JSON document (version 1 of jsonb's binary format is the
// text after a version byte).
func (c *copyBuf) jsonb(doc []byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(doc)+1))
	c.b = append(c.b, 1)
	c.b = append(c.b, doc...)
}

// copyTo sends the buffer as one COPY into table (columns in the order the
// rows were written).
func (c *copyBuf) copyTo(ctx context.Context, tx pgx.Tx, sql string) error {
	if c.rows == 0 {
		return nil
	}
	end := len(c.b)
	c.b = binary.BigEndian.AppendUint16(c.b, math.MaxUint16) // trailer: -1
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(c.b), sql)
	c.b = c.b[:end]
	if err != nil {
		return err
	}
	if tag.RowsAffected() != int64(c.rows) {
		return fmt.Errorf("%s: stored %d rows of %d", sql, tag.RowsAffected(), c.rows)
	}
	return nil
}
