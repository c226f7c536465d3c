package auth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/eventsvc"
)

// gatedLog is a fake durable audit log: Publish reports each event on got, then returns
// what release sends.
type gatedLog struct {
	got     chan eventsvc.Event
	release chan error
}

func (g *gatedLog) Publish(_ context.Context, e eventsvc.Event) error {
	g.got <- e
	return <-g.release
}

// TestRefusalAnsweredAfterAuditLogCommit: with a durable audit log, a refused request is
// answered only after the log has confirmed its record, the record goes to the log (which
// publishes it) rather than to the bus, and a log that fails does not change the answer.
func TestRefusalAnsweredAfterAuditLogCommit(t *testing.T) {
	t.Parallel()
	for _, logErr := range []error{nil, errors.New("database is locked")} {
		t.Run(errString(logErr), func(t *testing.T) {
			t.Parallel()
			gate := &gatedLog{got: make(chan eventsvc.Event), release: make(chan error)}
			f := newFixture(t, func(o *auth.Options) { o.AuditLog = gate })
			ctx := context.Background()
			require.NoError(t, f.svc.Start(ctx))
			t.Cleanup(func() { require.NoError(t, f.svc.Stop(ctx)) })

			answered := make(chan response, 1)
			go func() { answered <- f.do(http.MethodGet, "/api/catalog/entities", "") }()
			e := <-gate.got // the handler is inside the audit log's Publish
			require.Equal(t, auth.AuditTopic, e.Topic)
			require.Contains(t, string(e.Payload), `"reason":"missing credentials"`)
			select {
			case r := <-answered:
				t.Fatalf("answered %d before the audit log confirmed the record", r.code)
			default:
			}
			gate.release <- logErr
			require.Equal(t, http.StatusUnauthorized, (<-answered).code)
			require.Empty(t, f.bus.Published(auth.AuditTopic), "the audit log publishes committed records, auth does not")
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "committed"
	}
	return "log fails"
}
