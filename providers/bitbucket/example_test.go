package bitbucket_test

import (
	"context"
	"fmt"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/bitbucket"
)

// The router republishes each bitbucketServer event on its sub-topic, named by X-Event-Key.
func ExampleNewServerRouter() {
	bus := &eventsvctest.Recorder{}
	event := eventsvc.Event{ID: "3f1a9c7e-0b2d-4e6f-8a5c-d4b3e2f1a0c9", Topic: bitbucket.TopicServer, Key: "PLAT/payments",
		Payload: []byte(`{"eventKey":"repo:refs_changed"}`), Metadata: map[string]string{"x-event-key": "repo:refs_changed"}}

	err := bus.Deliver(context.Background(), bitbucket.NewServerRouter(bus), event)
	fmt.Println("handler error:", err)
	for _, e := range bus.Published() {
		fmt.Println(e.Topic, e.Key, e.Metadata["event_name_source"])
	}
	// Output:
	// handler error: <nil>
	// bitbucketServer.repo:refs_changed PLAT/payments unsigned-header
}
