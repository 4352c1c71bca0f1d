package bench

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"tally/app/ingest"
)

// The bench's bodies are what the server's decoder accepts, and identifies
// never touch the counters the bench sums up.
func TestProfileBodiesDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for seq := range int64(200) {
		b, err := ingest.DecodeTrack(identifyBody(nil, rng, "bench-x-7", seq))
		if err != nil {
			t.Fatalf("identify body: %v", err)
		}
		if b.Type != ingest.TypeIdentify || b.Identify.ProfileID != "bench-x-7" || b.Identify.FirstName == "" {
			t.Fatalf("identify decoded as %+v", b)
		}
		if b.Identify.Email != "" && !strings.HasPrefix(b.Identify.Email, "bench-x-7+") {
			t.Fatalf("email %q", b.Identify.Email)
		}
		for _, c := range counterProps {
			if _, ok := b.Identify.Properties[c]; ok {
				t.Fatalf("identify sets the counter %q", c)
			}
		}
	}
	for _, c := range counterProps {
		b, err := ingest.DecodeTrack(incrementBody([]byte("garbage"[:0]), `p"1`, c))
		if err != nil {
			t.Fatalf("increment body: %v", err)
		}
		if b.Type != ingest.TypeIncrement || b.Counter.ProfileID != `p"1` || b.Counter.Property != c || b.Counter.Value != 1 {
			t.Fatalf("increment decoded as %+v", b.Counter)
		}
	}
}

func TestReadProcTimes(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pt, err := readProcTimes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pt.ownUser < 0 || pt.ownSys < 0 || pt.descUser < 0 || pt.descSys < 0 {
		t.Fatalf("negative times %+v", pt)
	}
	if _, err := readProcTimes(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}
