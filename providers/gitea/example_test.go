package gitea_test

import (
	"context"
	"fmt"

	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/providers/gitea"
)

// The router republishes each gitea event on its sub-topic, named by X-Gitea-Event (or
// Forgejo's X-Forgejo-Event).
func ExampleNewRouter() {
	bus := &eventsvctest.Recorder{}
	event := eventsvc.Event{ID: "2c8d4e6f-3a1b-4c9d-8e7f-6a5b4c3d2e10", Topic: gitea.Topic, Key: "shop/checkout",
		Payload: []byte(`{"action":"opened"}`), Metadata: map[string]string{"x-forgejo-event": "pull_request"}}

	err := bus.Deliver(context.Background(), gitea.NewRouter(bus), event)
	fmt.Println("handler error:", err)
	for _, e := range bus.Published() {
		fmt.Println(e.Topic, e.Key, e.Metadata["event_name_source"])
	}
	// Output:
	// handler error: <nil>
	// gitea.pull_request shop/checkout unsigned-header
}
