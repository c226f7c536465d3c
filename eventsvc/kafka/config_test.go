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

	bad := ok
	bad.Brokers = []string{"kafka"}
	bad.BatchTimeout = 0
	bad.Partitions = 0
	bad.SASL = SASLConfig{Mechanism: "gssapi"}
	bad.TLS = TLSConfig{CertFile: "c.pem"}
	err := bad.Validate()
	for _, want := range []string{
		`brokers[0]: expected host:port, got "kafka"`,
		"batchTimeout: must be between",
		"partitions: must be at least 1",
		`sasl.mechanism: must be plain, scram-sha-256 or scram-sha-512, got "gssapi"`,
		"tls: certFile and keyFile go together",
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
