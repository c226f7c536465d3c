package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/stagebus/stagebus/config"
)

// Config is events.kafka.
type Config struct {
	// Brokers are the bootstrap addresses, host:port (required when events.bus is kafka). An
	// entry may hold several comma-separated addresses, so that one environment variable
	// (brokers: [${KAFKA_BROKERS}]) can name them all.
	Brokers []string `yaml:"brokers"`
	// ClientID names this client to the brokers (default stagebus).
	ClientID string `yaml:"clientId"`
	// TopicPrefix is put before every topic name (default stagebus.).
	TopicPrefix string `yaml:"topicPrefix"`
	// GroupPrefix is put before every subscription id to make the consumer group (default
	// stagebus.).
	GroupPrefix string `yaml:"groupPrefix"`
	// PublishTimeout bounds a publish, broker acknowledgement included (default 5s).
	PublishTimeout time.Duration `yaml:"publishTimeout"`
	// BatchTimeout is how long the writer waits to fill a batch (default 2ms).
	BatchTimeout time.Duration `yaml:"batchTimeout"`
	// AutoCreateTopics creates missing topics on first use (default true).
	AutoCreateTopics bool `yaml:"autoCreateTopics"`
	// Partitions of created topics (default 3).
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of created topics; 0 (default) means 3, or the number of brokers when
	// fewer.
	ReplicationFactor int `yaml:"replicationFactor"`
	// MaxInFlight bounds the records a reader has fetched but not yet committed (default 1000):
	// the most that is delivered again after a crash.
	MaxInFlight int `yaml:"maxInFlight"`
	// CommitInterval is the shortest time between two offset commits of a reader (default
	// 100ms, as kafka-go's and the Java client's batched commits): the first acknowledgement
	// after a quiet spell is committed at once, later ones together. 0 commits whenever the
	// committed position can move. A crash delivers again what was handled since the last
	// commit.
	CommitInterval time.Duration `yaml:"commitInterval"`
	// SessionTimeout is the consumer group session timeout (default 10s).
	SessionTimeout time.Duration `yaml:"sessionTimeout"`
	// DedupWindow is how long a subscription remembers the event ids (ce_id) it was handed, to
	// skip a record written twice (a retried write: kafka-go has no idempotent producer) and
	// count it in stagebus_events_kafka_duplicates_skipped_total (default 1m; 0 turns it off).
	// Each instance remembers what its own readers were handed, about 60 bytes an event: a
	// copy read by another instance after a rebalance is still handled again.
	DedupWindow time.Duration `yaml:"dedupWindow"`
	// Outbox puts the database in front of Kafka (default true): a publish — an accepted
	// webhook — is committed to the database's outbox (the SQL bus's tables, with the
	// delivery id, in one group-committed transaction) and a relay publishes it to Kafka in
	// order with acks=all. Ingestion keeps accepting while the brokers are down, and the
	// backlog drains when they are back; it refuses (503) while the database is down. false
	// publishes straight to Kafka: an accepted webhook is then acknowledged by the brokers,
	// and refused while they are down.
	Outbox bool `yaml:"outbox"`
	// TLS enables and configures TLS to the brokers.
	TLS TLSConfig `yaml:"tls"`
	// SASL authenticates to the brokers.
	SASL SASLConfig `yaml:"sasl"`
}

// TLSConfig is events.kafka.tls.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of CAs to trust instead of the system's.
	CAFile string `yaml:"caFile"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ServerName overrides the name checked in the broker certificates.
	ServerName string `yaml:"serverName"`
	// InsecureSkipVerify disables certificate checks; for tests only.
	InsecureSkipVerify bool `yaml:"insecureSkipVerify"`
}

// SASLConfig is events.kafka.sasl.
type SASLConfig struct {
	// Mechanism is plain, scram-sha-256 or scram-sha-512; empty disables SASL.
	Mechanism string        `yaml:"mechanism"`
	Username  string        `yaml:"username"`
	Password  config.Secret `yaml:"password"`
}

// SetDefaults fills in the defaults.
func (c *Config) SetDefaults() {
	*c = Config{
		ClientID:         "stagebus",
		TopicPrefix:      "stagebus.",
		GroupPrefix:      "stagebus.",
		PublishTimeout:   5 * time.Second,
		BatchTimeout:     2 * time.Millisecond,
		AutoCreateTopics: true,
		Partitions:       3,
		MaxInFlight:      1000,
		CommitInterval:   100 * time.Millisecond,
		SessionTimeout:   10 * time.Second,
		DedupWindow:      time.Minute,
		Outbox:           true,
	}
}

// Validate checks the values; brokers are checked when the Kafka bus is selected.
func (c Config) Validate() error {
	var errs []error
	for i, entry := range c.Brokers {
		for _, b := range strings.Split(entry, ",") {
			if !strings.Contains(strings.TrimSpace(b), ":") {
				errs = append(errs, config.Fieldf(fmt.Sprintf("brokers[%d]", i), "expected host:port, got %q", b))
			}
		}
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, config.Fieldf("publishTimeout", "must be positive"))
	}
	if c.BatchTimeout <= 0 || c.BatchTimeout > time.Second {
		errs = append(errs, config.Fieldf("batchTimeout", "must be between 1ns and 1s, got %s", c.BatchTimeout))
	}
	if c.Partitions < 1 {
		errs = append(errs, config.Fieldf("partitions", "must be at least 1"))
	}
	if c.ReplicationFactor < 0 {
		errs = append(errs, config.Fieldf("replicationFactor", "must not be negative"))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, config.Fieldf("maxInFlight", "must be at least 1"))
	}
	if c.CommitInterval < 0 || c.CommitInterval > time.Minute {
		errs = append(errs, config.Fieldf("commitInterval", "must be between 0 and 1m, got %s", c.CommitInterval))
	}
	if c.DedupWindow < 0 {
		errs = append(errs, config.Fieldf("dedupWindow", "must not be negative (0 turns it off)"))
	}
	if c.SessionTimeout < time.Second {
		errs = append(errs, config.Fieldf("sessionTimeout", "must be at least 1s"))
	}
	if len(c.TopicPrefix) > 100 || strings.ContainsAny(c.TopicPrefix+c.GroupPrefix, " /\\") {
		errs = append(errs, config.Fieldf("topicPrefix", "at most 100 characters, and no spaces or slashes in either prefix"))
	}
	switch strings.ToLower(c.SASL.Mechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		errs = append(errs, config.Fieldf("sasl.mechanism", "must be plain, scram-sha-256 or scram-sha-512, got %q", c.SASL.Mechanism))
	}
	if c.SASL.Mechanism != "" && (c.SASL.Username == "" || c.SASL.Password == "") {
		errs = append(errs, config.Fieldf("sasl", "username and password are required with a mechanism"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, config.Fieldf("tls", "certFile and keyFile go together"))
	}
	return errors.Join(errs...)
}

// tlsConfig builds the TLS configuration, or nil when TLS is off.
func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName, InsecureSkipVerify: c.TLS.InsecureSkipVerify} //nolint:gosec // opt-in, documented as test-only
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("events.kafka.tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("events.kafka.tls.caFile: no PEM certificate in %s", c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("events.kafka.tls: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// mechanism builds the SASL mechanism, or nil when SASL is off.
func (c Config) mechanism() (sasl.Mechanism, error) {
	switch strings.ToLower(c.SASL.Mechanism) {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password.Value()}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.SASL.Username, c.SASL.Password.Value())
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.SASL.Username, c.SASL.Password.Value())
	}
	return nil, fmt.Errorf("events.kafka.sasl.mechanism: unknown %q", c.SASL.Mechanism)
}

// kafkaTopic maps a Stagebus topic to its Kafka topic: the prefix, and ':' written as '_'.
func (c Config) kafkaTopic(topic string) string {
	return c.TopicPrefix + strings.ReplaceAll(topic, ":", "_")
}

// addresses returns the broker addresses with comma-separated entries split.
func (c Config) addresses() []string {
	var out []string
	for _, entry := range c.Brokers {
		for _, b := range strings.Split(entry, ",") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
	}
	return out
}
