package ingress

import "time"

// SetClock replaces the ingress clock, for tests of time-dependent checks.
func SetClock(in *Ingress, now func() time.Time) { in.now = now }
