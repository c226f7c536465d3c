package authtest

import (
	"context"
	"net/http"
	"testing"

	"github.com/stagebus/stagebus/auth"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
)

// New returns an unstarted auth.Service on a memory store, publishing its audit records to
// the returned recorder (synchronously, since it is not started). opts.Store and
// opts.Publisher are set by New; the test fails when the options are invalid.
func New(t testing.TB, opts auth.Options) (*auth.Service, *eventsvctest.Recorder) {
	t.Helper()
	bus := &eventsvctest.Recorder{}
	opts.Store = auth.NewMemoryStore()
	opts.Publisher = bus
	svc, err := auth.New(opts)
	if err != nil {
		t.Fatalf("authtest.New: %v", err)
	}
	return svc, bus
}

// UserToken issues a user token for ref (kind:namespace/name) with svc.
func UserToken(t testing.TB, svc *auth.Service, ref string) string {
	t.Helper()
	tok, err := svc.IssueUserToken(context.Background(), auth.UserInfo{UserEntityRef: ref})
	if err != nil {
		t.Fatalf("authtest.UserToken: %v", err)
	}
	return tok.Token
}

// ServiceToken issues a service token with which the module caller calls the module target.
func ServiceToken(t testing.TB, svc *auth.Service, caller, target string) string {
	t.Helper()
	tok, err := svc.IssueServiceToken(context.Background(), caller, target)
	if err != nil {
		t.Fatalf("authtest.ServiceToken: %v", err)
	}
	return tok.Token
}

// Authorize sets "Authorization: Bearer <token>" on r and returns it.
func Authorize(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
