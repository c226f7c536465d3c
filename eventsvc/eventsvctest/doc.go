// Package eventsvctest holds the conformance suite every events bus backend passes ([Run])
// and fakes for module authors: a [Recorder] that stands in for the bus — feed an event to a
// module's handler with [Recorder.Deliver] and assert what the module published, without fx
// or a broker — and a recording [DeadLetters] store.
package eventsvctest
