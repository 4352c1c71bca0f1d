package bench

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load generator's raw client speaks HTTP/1.1 as net/http's server
// expects: headers and body arrive intact, a connection is reused, a
// server's Connection: close and chunked answers are handled, and a
// keep-alive connection the server dropped is retried once.
func TestRawConn(t *testing.T) {
	var conns, requests atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/track" || r.Header.Get("User-Agent") != "ua-1" ||
			r.Header.Get("X-Forwarded-For") != "203.0.113.9" || string(body) != `{"n":1}` {
			http.Error(w, "bad request: "+r.Method+" "+r.URL.Path+" "+string(body), http.StatusBadRequest)
			return
		}
		switch r.URL.Query().Get("mode") {
		case "close":
			w.Header().Set("Connection", "close")
		case "chunked":
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		_, _ = io.WriteString(w, `{"deviceId":"d"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	visitors := []Visitor{{Header: http.Header{"User-Agent": {"ua-1"}, "X-Forwarded-For": {"203.0.113.9"}}}}
	post := func(rc *rawConn, mode string) int {
		t.Helper()
		u, _ := url.Parse(srv.URL + "/track" + mode)
		code, err := rc.post(requestHeads(u, visitors)[0], []byte(`{"n":1}`), 5*time.Second)
		if err != nil {
			t.Fatalf("post%s: %v", mode, err)
		}
		return code
	}
	rc := &rawConn{addr: strings.TrimPrefix(srv.URL, "http://")}
	defer rc.close()
	for range 3 {
		if code := post(rc, ""); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("3 requests used %d connections, want 1 (keep-alive)", n)
	}
	if code := post(rc, "?mode=chunked"); code != http.StatusOK {
		t.Fatalf("chunked: status %d", code)
	}
	if code := post(rc, "?mode=close"); code != http.StatusOK || rc.conn != nil {
		t.Fatalf("close: status %d, connection kept: %v", code, rc.conn != nil)
	}
	if code := post(rc, ""); code != http.StatusOK || conns.Load() != 2 {
		t.Fatalf("after close: status %d, %d connections, want 2", code, conns.Load())
	}
	// The server drops idle connections: the next request is retried on a new one.
	srv.CloseClientConnections()
	if code := post(rc, ""); code != http.StatusOK {
		t.Fatalf("after the server dropped the connection: status %d", code)
	}
	// A bad request is answered, not an error.
	u, _ := url.Parse(srv.URL + "/track")
	if code, err := rc.post(requestHeads(u, visitors)[0], []byte(`{}`), 5*time.Second); err != nil || code != http.StatusBadRequest {
		t.Fatalf("bad body: %d, %v", code, err)
	}
	if requests.Load() != 8 {
		t.Fatalf("server saw %d requests, want 8", requests.Load())
	}
}
