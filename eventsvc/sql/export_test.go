package sqlbus

import "time"

// SetClock sets the purge's clock, for tests.
func (b *Bus) SetClock(now func() time.Time) { b.clock = now }
