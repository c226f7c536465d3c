package eventsvctest_test

import (
	"context"
	"fmt"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
)

// shouter is a module under test: it republishes every "names" event in capitals.
type shouter struct{ pub eventsvc.Publisher }

func (s shouter) Subscription() eventsvc.Subscription {
	return eventsvc.Subscription{ID: "shouter", Topics: []string{"names"}, Handler: func(ctx context.Context, e eventsvc.Event) error {
		loud := make([]byte, len(e.Payload))
		for i, c := range e.Payload {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			loud[i] = c
		}
		return s.pub.Publish(ctx, eventsvc.Event{Topic: "shouts", Key: e.Key, Payload: loud})
	}}
}

// Feed an event to a module's handler and check what it published, without fx or a broker.
func ExampleRecorder() {
	bus := &eventsvctest.Recorder{}
	module := shouter{pub: bus}

	err := bus.Deliver(context.Background(), module.Subscription(), eventsvc.Event{ID: "e-1", Topic: "names", Key: "ada", Payload: []byte("ada lovelace")})
	fmt.Println("handler error:", err)
	for _, e := range bus.Published("shouts") {
		fmt.Printf("%s key=%s payload=%s correlation=%s\n", e.Topic, e.Key, e.Payload, e.Metadata[eventsvc.MetaCorrelationID])
	}
	// Output:
	// handler error: <nil>
	// shouts key=ada payload=ADA LOVELACE correlation=e-1
}
