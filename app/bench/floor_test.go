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
	go func() {
		served <- ServeFloor(serveCtx, ln, pool, FloorOptions{Project: "floor-test", Writers: 2, MaxWait: 300 * time.Millisecond})
	}()
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
	if n := count(); n != 40 {
		t.Fatalf("stored %d rows for 40 acknowledged requests", n)
	}

	second := make(chan int, 1)
	go func() { second <- send(30) }()
	// Stop while the batch is still filling: the writers must commit it
	// before the requests in it are answered and the server returns.
	time.Sleep(100 * time.Millisecond)
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

// With --floor-keys every acknowledged event also has its dedup key, and
// each device its session head, committed with it.
func TestFloorServerWithKeys(t *testing.T) {
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
	served := make(chan error, 1)
	go func() {
		served <- ServeFloor(serveCtx, ln, pool, FloorOptions{Project: "floor-keys", Writers: 2, MaxWait: time.Millisecond, Keys: true})
	}()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/track", strings.NewReader(`{}`))
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
}
