package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Topic is the topic the audit log subscribes to.
const Topic = "auth.audit"

// SubscriptionID is the audit log's subscription (its consumer group).
const SubscriptionID = "audit-log"

// Record is an audit record as it travels on the bus: Backstage's AuditorService shape. The
// JSON is the contract between publishers (auth) and this subscriber; neither imports the
// other's types.
type Record struct {
	Plugin        string         `json:"plugin"`
	EventID       string         `json:"eventId"`
	SeverityLevel string         `json:"severityLevel"`
	Actor         Actor          `json:"actor"`
	Request       *Request       `json:"request,omitempty"`
	Meta          map[string]any `json:"meta,omitempty"`
	Status        string         `json:"status"`
	Error         string         `json:"error,omitempty"`
	Timestamp     time.Time      `json:"timestamp"`
}

// Actor is who caused an audit event.
type Actor struct {
	ActorID   string `json:"actorId,omitempty"`
	IP        string `json:"ip,omitempty"`
	Hostname  string `json:"hostname,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
}

// Request is the HTTP request that caused an audit event.
type Request struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// ErrInvalidRecord means a payload that is not an audit record.
var ErrInvalidRecord = errors.New("invalid audit record")

var (
	severities = map[string]bool{"low": true, "medium": true, "high": true, "critical": true}
	statuses   = map[string]bool{"initiated": true, "succeeded": true, "failed": true}
)

// ParseRecord decodes and checks a record. Numbers in meta keep their exact text. A missing
// severity is low, as in Backstage.
func ParseRecord(payload []byte) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if dec.More() {
		return Record{}, fmt.Errorf("%w: trailing data", ErrInvalidRecord)
	}
	if r.SeverityLevel == "" {
		r.SeverityLevel = "low"
	}
	switch {
	case r.EventID == "" || len(r.EventID) > 200:
		return Record{}, fmt.Errorf("%w: eventId is required", ErrInvalidRecord)
	case !statuses[r.Status]:
		return Record{}, fmt.Errorf("%w: status must be initiated, succeeded or failed, got %q", ErrInvalidRecord, r.Status)
	case !severities[r.SeverityLevel]:
		return Record{}, fmt.Errorf("%w: severityLevel must be low, medium, high or critical, got %q", ErrInvalidRecord, r.SeverityLevel)
	}
	return r, nil
}
