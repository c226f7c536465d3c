// Package testenv tells tests what the environment promises: whether the real services
// (PostgreSQL, Kafka, and tools such as kcat, node or java) must be present. In a bare
// `go test ./...` a test that needs a missing service skips; with
// PLATFORM_REQUIRE_REAL_SERVICES=1 (set by CI) it fails instead, so CI never passes on skips.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RequireRealServicesEnv, set to 1, turns a missing real service into a test failure.
const RequireRealServicesEnv = "PLATFORM_REQUIRE_REAL_SERVICES"

// RequireRealServices reports whether missing services must fail tests (CI).
func RequireRealServices() bool { return os.Getenv(RequireRealServicesEnv) == "1" }

// Missing ends t because something it needs is not there: it fails the test (naming the
// variable that required it) under PLATFORM_REQUIRE_REAL_SERVICES=1, and skips it otherwise.
// The message should say what is missing and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequireRealServices() {
		t.Fatalf("%s (%s=1 requires it)", msg, RequireRealServicesEnv)
	}
	t.Skip(msg)
}
