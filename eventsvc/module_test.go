package eventsvc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/config/configtest"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/memory"
	"github.com/stagebus/stagebus/httpserver"
)

// greeter is a module written only against eventsvc's public API: it declares its
// subscription as a value in the fx group and publishes through the Publisher interface.
type greeter struct {
	pub        eventsvc.Publisher
	started    chan string
	release    chan struct{}
	finished   atomic.Bool
	publishErr error
}

func newGreeter(pub eventsvc.Publisher) *greeter {
	return &greeter{pub: pub, started: make(chan string, 1), release: make(chan struct{})}
}

func (g *greeter) subscription() eventsvc.Subscription {
	return eventsvc.Subscription{ID: "greeter", Topics: []string{"names"}, Handler: func(ctx context.Context, e eventsvc.Event) error {
		g.started <- string(e.Payload)
		<-g.release
		defer g.finished.Store(true)
		// Publishing still works while the bus drains.
		g.publishErr = g.pub.Publish(ctx, eventsvc.Event{Topic: "greetings", Payload: []byte("hello " + string(e.Payload))})
		return g.publishErr
	}}
}

var greeterModule = fx.Module("greeter",
	fx.Provide(newGreeter, eventsvc.AsSubscription((*greeter).subscription)),
)

func TestModuleInFx(t *testing.T) {
	var svc *eventsvc.Service
	var g *greeter
	app := fxtest.New(t,
		fx.Supply(configtest.Tree(t, "backend:\n  listen:\n    port: 0\n  database:\n    connection: ':memory:'\n")),
		config.Module,
		fx.Supply(zerolog.Nop()),
		httpserver.Module,
		database.Module,
		eventsvc.Module,
		memory.Module,
		deadletter.Module,
		greeterModule,
		fx.Populate(&svc, &g),
	)
	app.RequireStart()

	ctx := context.Background()
	require.NoError(t, svc.Publish(ctx, eventsvc.Event{Topic: "names", Payload: []byte("ada")}))
	require.Equal(t, "ada", <-g.started)

	stopped := make(chan struct{})
	go func() { app.RequireStop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("the app stopped while the greeter's handler was in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(g.release)
	<-stopped
	require.True(t, g.finished.Load(), "the in-flight handler completed during RequireStop")
	require.NoError(t, g.publishErr)
}
