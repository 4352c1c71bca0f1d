package db

import "testing"

// The embedded cluster's cache is a quarter of memory, within bounds.
func TestSharedBuffersMB(t *testing.T) {
	for mem, want := range map[int]int{256: 128, 1024: 256, 24_000: 6000, 64_000: 8192} {
		if got := sharedBuffersMB(mem); got != want {
			t.Errorf("sharedBuffersMB(%d) = %d, want %d", mem, got, want)
		}
	}
	if memTotalMB() < 128 || memoryMB() < 128 || memoryMB() > memTotalMB() {
		t.Errorf("memTotalMB() = %d, memoryMB() = %d: misread", memTotalMB(), memoryMB())
	}
}
