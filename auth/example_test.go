package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/httpserver"
)

// Issue a user token and authenticate a request with it, without fx: a memory store stands
// for the database and a recorder for the bus.
func ExampleService_Authenticate() {
	bus := &eventsvctest.Recorder{}
	svc, err := auth.New(auth.Options{
		Store: auth.NewMemoryStore(), Publisher: bus, BaseURL: "http://localhost:7007",
		Admins: []string{"user:default/alice"},
		Clock:  func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	tok, err := svc.IssueUserToken(context.Background(), auth.UserInfo{UserEntityRef: "user:default/bob"})
	if err != nil {
		panic(err)
	}
	fmt.Println("expires:", tok.ExpiresAt.Format(time.RFC3339))

	admin := httpserver.Route{Method: http.MethodDelete, Path: "/api/catalog/entities/{uid}", Auth: httpserver.RequireAdmin}
	for _, route := range []httpserver.Route{{Method: http.MethodGet, Path: "/api/catalog/entities"}, admin} {
		r := httptest.NewRequest(route.Method, route.Path, nil)
		r.Header.Set("Authorization", "Bearer "+tok.Token)
		p, err := svc.Authenticate(r, route)
		fmt.Printf("%s %s: principal=%q err=%v\n", route.Method, route.Path, p.Subject, err)
	}
	for _, e := range bus.Published(auth.AuditTopic) {
		var rec auth.AuditRecord
		_ = json.Unmarshal(e.Payload, &rec)
		fmt.Println("audit:", rec.EventID, rec.Status)
	}
	// Output:
	// expires: 2026-05-01T13:00:00Z
	// GET /api/catalog/entities: principal="user:default/bob" err=<nil>
	// DELETE /api/catalog/entities/{uid}: principal="" err=user:default/bob is not an admin (auth.admins)
	// audit: token-issue succeeded
	// audit: authorize failed
}
