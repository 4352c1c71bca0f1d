package analytics_test

import (
	"testing"

	"tally/app/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
