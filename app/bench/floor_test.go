package bench

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/app/dbtest"
	"tally/jobs"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The floor server stores one row per acknowledged request, and on shutdown
// commits the events it holds before it answers them: the figure it gives
// is for the same promise tally makes (a 200 means committed).
func TestFloorServerStoresWhatItAcknowledges(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	// A long wait keeps the second round's events in an open batch when
	// the server is told to stop.
	served := make(chan error, 1)
	queued := make(chan struct{}, 100)
	o := FloorOptions{Project: "floor-test", Writers: 2, MaxWait: 300 * time.Millisecond,
		onQueued: func() { queued <- struct{}{} }}
	go func() { served <- ServeFloor(serveCtx, ln, pool, o) }()
	url := "http://" + ln.Addr().String() + "/track"

	send := func(n int) (acked int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res, err := http.Post(url, "application/json", strings.NewReader(`{"type":"track","payload":{"name":"screen_view"}}`))
				if err != nil {
					return
				}
				body, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				if res.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"sessionId"`)) {
					mu.Lock()
					acked++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return acked
	}
	count := func() (n int64) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE project_id = 'floor-test'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if acked := send(40); acked != 40 {
		t.Fatalf("first round: %d of 40 acknowledged", acked)
	}
	for len(queued) > 0 {
		<-queued
	}
	if n := count(); n != 40 {
		t.Fatalf("stored %d rows for 40 acknowledged requests", n)
	}

	second := make(chan int, 1)
	go func() { second <- send(30) }()
	// Stop while the batch is still filling: the writers must commit it
	// before the requests in it are answered and the server returns.
	select {
	case <-queued:
	case <-time.After(10 * time.Second):
		t.Fatal("no event of the second round reached the writers")
	}
	if n := count(); n != 40 {
		t.Fatalf("the second round committed before its batch's wait (%d rows): the test no longer stops mid-batch", n)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("ServeFloor: %v", err)
	}
	acked := <-second
	if acked == 0 {
		t.Fatal("no request of the second round was answered before the shutdown")
	}
	if n := count(); n != int64(40+acked) {
		t.Fatalf("stored %d rows for %d acknowledged requests", n, 40+acked)
	}
}

// --floor measures servers it starts itself.
func TestFloorRefusesURL(t *testing.T) {
	var stderr bytes.Buffer
	err := IngestCmd(context.Background(), []string{"--floor", "--url", "http://127.0.0.1:1"}, nil, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--floor") {
		t.Fatalf("err = %v", err)
	}
}

// `bench floor-server --keys`, as `bench ingest --floor --floor-keys`
// starts it: every acknowledged event also has its dedup key, and each
// device its session head, committed with it; a database it cannot reach
// fails the start instead of every request.
func TestFloorServeCmdWithKeys(t *testing.T) {
	url := dbtest.NewDB(t)
	pool := dbtest.NewPoolFor(t, url)
	ctx := context.Background()
	if err := jobs.Maintain(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- FloorServeCmd(serveCtx, []string{"--listen", addr, "--project", "floor-keys", "--writers", "2", "--max-wait", "1ms", "--keys=true"},
			[]string{"DATABASE_URL=" + url}, io.Discard)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz/ready")
		if err == nil {
			_ = res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("floor server not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/track", strings.NewReader(`{}`))
			req.Header.Set("X-Forwarded-For", "203.0.113."+strconv.Itoa(i%3)) // three visitors
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	var events, keys, heads int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE project_id = 'floor-keys'),
		(SELECT count(*) FROM ingest_dedup), (SELECT count(*) FROM session_heads WHERE project_id = 'floor-keys')`).Scan(&events, &keys, &heads); err != nil {
		t.Fatal(err)
	}
	if events != 30 || keys != 30 || heads != 3 {
		t.Fatalf("events %d, dedup keys %d, session heads %d; want 30, 30, 3", events, keys, heads)
	}

	bad := strings.Replace(url, "dbname=", "dbname=missing_", 1)
	if bad == url {
		bad = url + "_missing"
	}
	badCtx, cancel := context.WithTimeout(ctx, 5*time.Second) // a server that starts anyway returns nil here
	defer cancel()
	if err := FloorServeCmd(badCtx, []string{"--listen", addr, "--project", "p"}, []string{"DATABASE_URL=" + bad}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "missing") {
		t.Fatalf("a floor server on a missing database: err = %v", err)
	}
}

// The --floor-* flags are refused without --floor, and bad values with it.
func TestFloorFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--floor-keys"},
		{"--floor-writers", "2"},
		{"--floor", "--floor-writers", "0"},
		{"--floor", "--floor-max-wait", "-1ms"},
	} {
		if err := IngestCmd(context.Background(), args, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "floor") {
			t.Errorf("%q: err = %v", args, err)
		}
	}
}
