package eventsvc_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/memory"
)

// TestPublishTxNeedsAnOutbox: on a bus that cannot store events in a transaction and with
// no outbox beside it, PublishTx refuses rather than publishing outside the transaction.
func TestPublishTxNeedsAnOutbox(t *testing.T) {
	t.Parallel()
	svc, err := eventsvc.New(eventsvc.Options{
		Backend: memory.New(memory.Config{}, zerolog.Nop()), DeadLetters: nopDeadLetters{}, Registerer: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	require.NoError(t, svc.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, svc.Stop(t.Context())) })
	_, err = svc.PublishTx(t.Context(), nil, eventsvc.Event{Topic: "catalog.entity.upserted", Payload: []byte("{}")})
	require.ErrorIs(t, err, eventsvc.ErrNoOutbox)
	require.Empty(t, svc.Detail(t.Context()), "nothing to report beyond up or down")
}

// nopDeadLetters keeps nothing (no handler fails here).
type nopDeadLetters struct{}

func (nopDeadLetters) Add(context.Context, eventsvc.DeadLetter) error { return nil }
