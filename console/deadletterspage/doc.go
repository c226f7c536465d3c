// Package deadletterspage adds the Dead letters pages to the operator console, for admins
// (a dead letter carries its event's payload, which may hold private data): the events whose
// handlers gave up, filtered by subscription and topic and paged newest first; one dead
// letter's error, metadata and payload; and two audited actions, replay (hands the event to
// its subscription again, as POST /api/events/dead-letters/{id}/replay does) and discard.
//
// It reads and changes dead letters in-process, through deadletter.Store and
// deadletter.API, never over HTTP.
package deadletterspage
