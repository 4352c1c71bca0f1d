package seed

// SetDemoEvents changes the demo's size for a test and returns the undo.
func SetDemoEvents(n int64) func() {
	old := demoEvents
	demoEvents = n
	return func() { demoEvents = old }
}
