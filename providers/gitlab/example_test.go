package gitlab_test

import (
	"context"
	"fmt"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/gitlab"
)

// The router republishes each gitlab event on its sub-topic, named by the payload's
// object_kind: merge requests too, which have no event_name.
func ExampleNewRouter() {
	bus := &eventsvctest.Recorder{}
	event := eventsvc.Event{ID: "1b0c2d9e-7a34-4c1f-8e2b-5f6a9d3c0e71", Topic: gitlab.Topic, Key: "platform/payments",
		Payload: []byte(`{"object_kind":"merge_request","event_type":"merge_request"}`)}

	err := bus.Deliver(context.Background(), gitlab.NewRouter(bus), event)
	fmt.Println("handler error:", err)
	for _, e := range bus.Published() {
		fmt.Println(e.Topic, e.Key, e.Metadata["event_name_source"])
	}
	// Output:
	// handler error: <nil>
	// gitlab.merge_request platform/payments payload
}
