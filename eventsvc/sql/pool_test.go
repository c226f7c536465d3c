package sqlbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/database"
)

// TestManyBusesShareTheConnections: more buses on one database handle than its connection
// pool holds (20 on PostgreSQL) still publish — they share one LISTEN connection instead of
// each keeping one.
func TestManyBusesShareTheConnections(t *testing.T) {
	dialects(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		var last interface {
			Publish(string, ...*message.Message) error
		}
		for range 25 {
			last = startBus(t, db, cfg)
		}
		time.Sleep(200 * time.Millisecond) // the listeners, if any, have taken their connections
		msg := message.NewMessage(watermill.NewUUID(), []byte("x"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msg.SetContext(ctx)
		require.NoError(t, last.Publish("topic-"+watermill.NewShortUUID(), msg))
	})
}
