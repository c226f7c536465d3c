package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	var ok Config
	ok.SetDefaults()
	ok.Brokers = []string{"kafka:9092"}
	require.NoError(t, ok.Validate())
	require.Equal(t, 2*time.Millisecond, ok.BatchTimeout, "never kafka-go's 1s default")
	require.Equal(t, time.Minute, ok.DedupWindow)

	bad := ok
	bad.Brokers = []string{"kafka"}
	bad.BatchTimeout = 0
	bad.Partitions = 0
	bad.SASL = SASLConfig{Mechanism: "gssapi"}
	bad.TLS = TLSConfig{CertFile: "c.pem"}
	bad.DedupWindow = -time.Second
	bad.CommitInterval = -time.Second
	err := bad.Validate()
	for _, want := range []string{
		`brokers[0]: expected host:port, got "kafka"`,
		"batchTimeout: must be between",
		"partitions: must be at least 1",
		`sasl.mechanism: must be plain, scram-sha-256 or scram-sha-512, got "gssapi"`,
		"tls: certFile and keyFile go together",
		"dedupWindow: must not be negative (0 turns it off)",
		"commitInterval: must be between 0 and 1m, got -1s",
	} {
		require.ErrorContains(t, err, want)
	}
	noPass := ok
	noPass.SASL = SASLConfig{Mechanism: "plain", Username: "u"}
	require.ErrorContains(t, noPass.Validate(), "sasl: username and password are required")
}

func TestKafkaTopic(t *testing.T) {
	t.Parallel()
	c := Config{TopicPrefix: "stagebus."}
	require.Equal(t, "stagebus.github.push", c.kafkaTopic("github.push"))
	require.Equal(t, "stagebus.bitbucketCloud.repo_push", c.kafkaTopic("bitbucketCloud.repo:push"))
}

func TestBrokerAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		brokers []string
		want    []string
		problem string
	}{
		{name: "one", brokers: []string{"kafka:9092"}, want: []string{"kafka:9092"}},
		{name: "list", brokers: []string{"a:9092", "b:9092"}, want: []string{"a:9092", "b:9092"}},
		{name: "comma-separated entry", brokers: []string{"a:9092, b:9092", "c:9092"}, want: []string{"a:9092", "b:9092", "c:9092"}},
		{name: "address without port in an entry", brokers: []string{"a:9092,b"}, problem: `brokers[0]: expected host:port, got "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			c.SetDefaults()
			c.Brokers = tc.brokers
			if tc.problem != "" {
				require.ErrorContains(t, c.Validate(), tc.problem)
				return
			}
			require.NoError(t, c.Validate())
			require.Equal(t, tc.want, c.addresses())
		})
	}
}
