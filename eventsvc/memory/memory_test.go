package memory_test

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/memory"
)

// sharedBus hands out backends that share one memory bus, like instances sharing a broker;
// only the last Close closes it.
type sharedBus struct {
	bus *memory.Bus
}

func (s sharedBus) NewBackend(t *testing.T) eventsvc.Backend {
	t.Cleanup(func() { _ = s.bus.Close() })
	return instance{s.bus}
}

// instance is one process's view of the shared bus: closing it leaves the bus to the others.
type instance struct{ *memory.Bus }

func (instance) Close() error { return nil }

func TestConformance(t *testing.T) {
	eventsvctest.Run(t, eventsvctest.Config{
		NewBus: func(t *testing.T) eventsvctest.Bus {
			return sharedBus{bus: memory.New(memory.Config{}, zerolog.Nop())}
		},
	})
}
