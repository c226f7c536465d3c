package kafka_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stagebus/stagebus/internal/testenv"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/kafka"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
)

// BrokersEnv names the real Kafka cluster the tests also run against (scripts/services sets
// it); with PLATFORM_REQUIRE_REAL_SERVICES=1 its absence fails the tests.
const BrokersEnv = "PLATFORM_TEST_KAFKA_BROKERS"

// cluster is a Kafka cluster the tests run on.
type cluster struct {
	name    string
	brokers []string
}

// fake starts an in-process Kafka-protocol cluster for the test.
func fake(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500 * time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// real returns the real broker's addresses, or skips (fails under
// PLATFORM_REQUIRE_REAL_SERVICES=1) when none is configured.
func real(t testing.TB) []string {
	t.Helper()
	v := os.Getenv(BrokersEnv)
	if v == "" {
		testenv.Missing(t, "%s is not set: make test starts a real Kafka, or start one with scripts/services up", BrokersEnv)
	}
	return strings.Split(v, ",")
}

// clusters returns a fresh kfake cluster, and the real broker when there is one.
func clusters(t *testing.T) []cluster {
	out := []cluster{{name: "kfake", brokers: fake(t)}}
	if v := os.Getenv(BrokersEnv); v != "" || testenv.RequireRealServices() {
		out = append(out, cluster{name: "kafka", brokers: real(t)})
	}
	return out
}

// testConfig returns a configuration with topic and group prefixes unique to this call, so
// that tests never see each other's records on a shared broker.
func testConfig(brokers []string) kafka.Config {
	var c kafka.Config
	c.SetDefaults()
	c.Brokers = brokers
	id := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	c.TopicPrefix = "test-" + id + "."
	c.GroupPrefix = "test-" + id + "."
	c.SessionTimeout = 3 * time.Second
	return c
}

// bus is an eventsvctest.Bus: backends with one configuration, like instances.
type bus struct {
	cfg kafka.Config
}

func (b bus) NewBackend(t *testing.T) eventsvc.Backend {
	t.Helper()
	k, err := kafka.New(b.cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	return k
}

// outboxBus is an eventsvctest.Bus of Kafka behind the SQL bus's outbox, as Stagebus runs
// it by default: instances share the database and the brokers.
type outboxBus struct {
	cfg kafka.Config
	db  *database.DB
}

func (b outboxBus) NewBackend(t *testing.T) eventsvc.Backend {
	t.Helper()
	k, err := kafka.New(b.cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	sqlCfg := sqlbus.Config{}
	sqlCfg.SetDefaults()
	sqlCfg.LeaseTimeout = 2 * time.Second
	outbox, err := sqlbus.New(b.db, sqlCfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	return eventsvc.Outboxed(outbox, k)
}
