package ingest

import (
	"testing"
	"time"
)

func TestRecentProfilesSkipOnlyFreshCommittedWrites(t *testing.T) {
	c := newRecentProfiles(time.Minute, 3)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	browse := func(device string) Row { return Row{ProjectID: "p", DeviceID: device, OpensSession: true} }
	skipped := func(r Row, at time.Time) bool {
		rows := []Row{r}
		c.mark(rows, at)
		return rows[0].SkipProfile
	}
	commit := func(r Row, at time.Time, dup bool) {
		rows := []Row{r}
		c.mark(rows, at)
		c.remember(rows, []Result{{Duplicate: dup}}, at)
	}

	if skipped(browse("d1"), t0) {
		t.Fatal("a profile never written is skipped")
	}
	commit(browse("d1"), t0, false)
	if !skipped(browse("d1"), t0.Add(30*time.Second)) {
		t.Fatal("a profile written 30 s ago is not skipped")
	}
	// A skipped event wrote nothing: it must not extend the minute.
	commit(browse("d1"), t0.Add(50*time.Second), false)
	if skipped(browse("d1"), t0.Add(61*time.Second)) {
		t.Fatal("a profile written 61 s ago is still skipped")
	}
	// Another project's device of the same id is another profile.
	if skipped(Row{ProjectID: "q", DeviceID: "d1", OpensSession: true}, t0.Add(time.Second)) {
		t.Fatal("skipped across projects")
	}

	// A duplicate stored nothing: not remembered.
	commit(browse("d2"), t0, true)
	if skipped(browse("d2"), t0.Add(time.Second)) {
		t.Fatal("a duplicate's profile is remembered")
	}

	// The id the site gave is the profile, whatever the device.
	commit(Row{ProjectID: "p", DeviceID: "server-a", ProfileID: "u1"}, t0, false)
	if !skipped(Row{ProjectID: "p", DeviceID: "other", ProfileID: "u1"}, t0.Add(time.Second)) {
		t.Fatal("a site's profile id is not remembered across devices")
	}
	// An event that writes no profile (server-side, no profile id) is never marked.
	commit(Row{ProjectID: "p", DeviceID: "s"}, t0, false)
	if skipped(Row{ProjectID: "p", DeviceID: "s"}, t0.Add(time.Second)) {
		t.Fatal("an event that writes no profile is marked")
	}
}

func TestRecentProfilesStayBounded(t *testing.T) {
	c := newRecentProfiles(time.Minute, 2)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	commit := func(device string, at time.Time) {
		rows := []Row{{ProjectID: "p", DeviceID: device, OpensSession: true}}
		c.mark(rows, at)
		c.remember(rows, []Result{{}}, at)
	}
	commit("a", t0)
	commit("b", t0)
	commit("c", t0.Add(time.Second)) // full of fresh entries: not remembered
	if len(c.at) != 2 {
		t.Fatalf("%d entries, want the bound 2", len(c.at))
	}
	if _, ok := c.at["p\x00c"]; ok {
		t.Fatal("remembered past the bound")
	}
	// Two batches marked before either committed both write "a": the later
	// write is remembered even at the bound.
	c.remember([]Row{{ProjectID: "p", DeviceID: "a", OpensSession: true}}, []Result{{}}, t0.Add(2*time.Second))
	if c.at["p\x00a"] != t0.Add(2*time.Second).UnixNano() {
		t.Fatal("a remembered profile was not refreshed at the bound")
	}
	commit("c", t0.Add(61*time.Second)) // "b" expired: swept, room for "c"
	if _, ok := c.at["p\x00c"]; !ok || len(c.at) != 2 {
		t.Fatalf("after expiry: %v", c.at)
	}
}
