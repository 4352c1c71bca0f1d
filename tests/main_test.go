// Package tests proves wire compatibility with the real, published OpenPanel
// SDKs: the test setup installs them from npm, then drives the Node SDK with
// node and the browser tracker with headless Chromium against a real server.
package tests

import (
	"testing"

	"tally/app/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
