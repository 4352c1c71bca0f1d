package bench

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// rawConn is one keep-alive HTTP/1.1 connection of a load worker. The
// generator shares two cores with the server it measures, so it writes
// each request as one pre-formatted buffer in one system call instead of
// going through http.Transport, whose per-request goroutine hand-offs,
// header sorting and allocations cost about as much CPU as the server's
// own HTTP handling. Responses are still parsed by net/http
// (http.ReadResponse), so chunked bodies, Connection: close and malformed
// answers are handled as any client would.
type rawConn struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	out  []byte
	used bool // has answered a request: a failure before any answer may be a stale keep-alive
}

// requestHeads pre-formats, per visitor, everything of a POST to u up to
// the Content-Length value: request line, Host and the visitor's headers.
func requestHeads(u *url.URL, visitors []Visitor) [][]byte {
	heads := make([][]byte, len(visitors))
	for i, v := range visitors {
		b := []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n")
		keys := make([]string, 0, len(v.Header))
		for k := range v.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, val := range v.Header[k] {
				b = append(b, k...)
				b = append(b, ": "...)
				b = append(b, val...)
				b = append(b, "\r\n"...)
			}
		}
		heads[i] = append(b, "Content-Length: "...)
	}
	return heads
}

// errStale is a reused connection that failed before answering.
var errStale = errors.New("keep-alive connection closed before answering")

// post sends head + Content-Length + body and returns the status code,
// with the body read and discarded. A keep-alive connection the server
// closed just as it was reused is retried once on a new connection (what
// http.Transport does too; a repeat the server already stored is answered
// as a duplicate).
func (rc *rawConn) post(head, body []byte, timeout time.Duration) (int, error) {
	code, err := rc.try(head, body, timeout)
	if errors.Is(err, errStale) {
		code, err = rc.try(head, body, timeout)
	}
	return code, err
}

func (rc *rawConn) try(head, body []byte, timeout time.Duration) (int, error) {
	if rc.conn == nil {
		c, err := net.DialTimeout("tcp", rc.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		rc.conn, rc.used = c, false
		if rc.br == nil {
			rc.br = bufio.NewReaderSize(c, 4096)
		} else {
			rc.br.Reset(c)
		}
	}
	rc.out = append(rc.out[:0], head...)
	rc.out = strconv.AppendInt(rc.out, int64(len(body)), 10)
	rc.out = append(rc.out, "\r\n\r\n"...)
	rc.out = append(rc.out, body...)
	_ = rc.conn.SetDeadline(time.Now().Add(timeout))
	reused := rc.used
	if _, err := rc.conn.Write(rc.out); err != nil {
		return 0, rc.fail(err, reused)
	}
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return 0, rc.fail(err, reused && rc.br.Buffered() == 0)
	}
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if err != nil {
		return 0, rc.fail(err, false)
	}
	rc.used = true
	if res.Close {
		rc.close()
	}
	return res.StatusCode, nil
}

func (rc *rawConn) fail(err error, stale bool) error {
	rc.close()
	if stale {
		return errStale
	}
	return err
}

func (rc *rawConn) close() {
	if rc.conn != nil {
		_ = rc.conn.Close()
		rc.conn = nil
	}
}
