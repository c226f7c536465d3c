package audit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/auth/authtest"
	"github.com/stagebus/stagebus/database/databasetest"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/subscribers/audit"
)

func TestParseRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		wantErr string
		check   func(t *testing.T, r audit.Record)
	}{
		{name: "full record", payload: `{"plugin":"auth","eventId":"authenticate","severityLevel":"medium","actor":{"ip":"192.0.2.1"},"request":{"method":"GET","url":"/x"},"meta":{"n":12345678901234567890},"status":"failed","error":"token has expired","timestamp":"2026-05-01T12:00:00Z"}`,
			check: func(t *testing.T, r audit.Record) {
				require.Equal(t, "authenticate", r.EventID)
				require.Equal(t, json.Number("12345678901234567890"), r.Meta["n"], "numbers keep their exact text")
				require.Equal(t, "token has expired", r.Error)
			}},
		{name: "severity defaults to low", payload: `{"eventId":"x","status":"succeeded"}`, check: func(t *testing.T, r audit.Record) {
			require.Equal(t, "low", r.SeverityLevel)
		}},
		{name: "not JSON", payload: `nope`, wantErr: "invalid audit record"},
		{name: "trailing data", payload: `{"eventId":"x","status":"failed"} {}`, wantErr: "trailing data"},
		{name: "no event id", payload: `{"status":"failed"}`, wantErr: "eventId is required"},
		{name: "bad status", payload: `{"eventId":"x","status":"meh"}`, wantErr: "status must be"},
		{name: "bad severity", payload: `{"eventId":"x","status":"failed","severityLevel":"dire"}`, wantErr: "severityLevel must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := audit.ParseRecord([]byte(tt.payload))
			if tt.wantErr != "" {
				require.ErrorIs(t, err, audit.ErrInvalidRecord)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, r)
		})
	}
}

// TestHandler delivers auth's own audit events to the subscription, as the bus would (at
// least once): each is stored once, and a payload that is no record is an error for the bus
// to retry and dead-letter.
func TestHandler(t *testing.T) {
	t.Parallel()
	db := databasetest.SQLite(t, audit.Migrations)
	store := audit.NewStore(db, zerolog.Nop())
	sub := store.Subscription()
	require.Equal(t, audit.SubscriptionID, sub.ID)
	require.Equal(t, []string{auth.AuditTopic}, sub.Topics, "the topic auth publishes on")

	// Produce real records with auth: a refused request and an issued token.
	svc, authBus := authtest.New(t, auth.Options{})
	r := httptest.NewRequest(http.MethodGet, "/api/things", nil)
	r.Header.Set("Authorization", "Bearer not-a-token")
	_, err := svc.Authenticate(r, httpserver.Route{Method: http.MethodGet, Path: "/api/things"})
	require.Error(t, err)
	authtest.UserToken(t, svc, "user:default/bob")
	events := authBus.Published(auth.AuditTopic)
	require.Len(t, events, 2)

	bus := &eventsvctest.Recorder{}
	ctx := context.Background()
	for _, e := range append(events, events...) { // every event delivered twice
		require.NoError(t, bus.Deliver(ctx, sub, e))
	}
	page, err := store.List(ctx, audit.Filter{})
	require.NoError(t, err)
	require.Equal(t, 2, page.TotalItems)
	refused, issued := page.Items[1], page.Items[0]
	require.Equal(t, events[0].ID, refused.MessageID)
	require.Equal(t, "auth", refused.Plugin)
	require.Equal(t, auth.EventAuthenticate, refused.EventID)
	require.Equal(t, "failed", refused.Status)
	require.Equal(t, "invalid token", refused.Meta["reason"])
	require.Equal(t, "192.0.2.1", refused.Actor.IP)
	require.Equal(t, &audit.Request{Method: http.MethodGet, URL: "/api/things"}, refused.Request)
	require.Equal(t, auth.EventTokenIssue, issued.EventID)
	require.Equal(t, "user:default/bob", issued.Actor.ActorID)
	require.NotContains(t, refused.RawRecord, "not-a-token")

	err = bus.Deliver(ctx, sub, eventsvc.Event{ID: "junk", Topic: audit.Topic, Payload: []byte("{")})
	require.ErrorIs(t, err, audit.ErrInvalidRecord)
	res, err := audit.Verify(ctx, db)
	require.NoError(t, err)
	require.True(t, res.OK)
	require.EqualValues(t, 2, res.Checked)
}
