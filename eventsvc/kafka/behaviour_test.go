package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/eventsvctest"
	"github.com/stagebus/stagebus/eventsvc/kafka"
)

// handledSet records which event ids a handler saw, and how often.
type handledSet struct {
	mu   sync.Mutex
	seen map[string]int
}

func (h *handledSet) add(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]int{}
	}
	h.seen[id]++
}

func (h *handledSet) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func (h *handledSet) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.seen {
		n += c
	}
	return n
}

func service(t *testing.T, cfg kafka.Config, subs ...eventsvc.Subscription) *eventsvc.Service {
	t.Helper()
	b, err := kafka.New(cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	svc, err := eventsvc.New(eventsvc.Options{
		Backend: b, Retry: eventsvc.RetryPolicy{MaxAttempts: 3, InitialInterval: 5 * time.Millisecond, MaxInterval: 10 * time.Millisecond},
		DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(), Subscriptions: subs,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, svc.Start(ctx))
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return svc
}

func stop(t *testing.T, svc *eventsvc.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, svc.Stop(ctx))
}

// TestRestartResumesFromCommittedOffsets consumes part of a stream, stops, and starts again
// with the same subscription id: every event is handled, none lost; an instance that joins
// while events flow, and added partitions, lose nothing either.
func TestRestartResumesFromCommittedOffsets(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(c.brokers)
			cfg.MaxInFlight = 20 // a graceful stop handles what was fetched: keep that short of the stream
			const n = 300
			var got handledSet
			var firstRun sync.WaitGroup
			firstRun.Add(1)
			var once sync.Once
			slow := func(_ context.Context, e eventsvc.Event) error {
				got.add(e.ID)
				if got.distinct() >= n/3 {
					once.Do(firstRun.Done)
				}
				time.Sleep(5 * time.Millisecond)
				return nil
			}
			sub := eventsvc.Subscription{ID: "restart", Topics: []string{"stream"}, Handler: slow, Concurrency: 2}
			publisher := service(t, cfg)
			var published sync.WaitGroup
			for i := range n / 2 {
				published.Go(func() {
					require.NoError(t, publisher.Publish(context.Background(), eventsvc.Event{ID: fmt.Sprintf("e-%03d", i), Topic: "stream", Key: fmt.Sprintf("k%d", i%10)}))
				})
			}
			published.Wait()
			first := service(t, cfg, sub)
			firstRun.Wait()
			stop(t, first) // mid-stream
			stopped := got.distinct()
			require.Less(t, stopped, n/2, "the first run stopped before the end")

			// Partitions are added while nobody consumes, then two instances share the group.
			admin := &kafkago.Client{Addr: kafkago.TCP(c.brokers...)}
			res, err := admin.CreatePartitions(context.Background(), &kafkago.CreatePartitionsRequest{Topics: []kafkago.TopicPartitionsConfig{{Name: cfg.TopicPrefix + "stream", Count: 5}}})
			require.NoError(t, err)
			require.NoError(t, res.Errors[cfg.TopicPrefix+"stream"])

			service(t, cfg, sub)
			for i := n / 2; i < n; i++ {
				require.NoError(t, publisher.Publish(context.Background(), eventsvc.Event{ID: fmt.Sprintf("e-%03d", i), Topic: "stream", Key: fmt.Sprintf("k%d", i%10)}))
				if i == 3*n/4 {
					service(t, cfg, sub) // a member joins: a rebalance while events flow
				}
			}
			require.Eventually(t, func() bool { return got.distinct() == n }, 90*time.Second, 20*time.Millisecond,
				"every event handled: %d of %d", got.distinct(), n)
			t.Logf("%d events, %d handled before the stop, %d deliveries in all (at least once: %d again)", n, stopped, got.total(), got.total()-n)
		})
	}
}

// TestTopicsMustExistWithoutAutoCreate: a missing topic fails a subscription at start-up and
// a publish, naming the topic.
func TestTopicsMustExistWithoutAutoCreate(t *testing.T) {
	cfg := testConfig(fake(t))
	cfg.AutoCreateTopics = false
	b, err := kafka.New(cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	svc, err := eventsvc.New(eventsvc.Options{Backend: b, Retry: eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Subscriptions: []eventsvc.Subscription{{ID: "s", Topics: []string{"missing"}, Handler: func(context.Context, eventsvc.Event) error { return nil }}}})
	require.NoError(t, err)
	err = svc.Start(context.Background())
	require.ErrorContains(t, err, "kafka topic "+cfg.TopicPrefix+"missing does not exist and events.kafka.autoCreateTopics is false")

	b2, err := kafka.New(cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	pub, err := eventsvc.New(eventsvc.Options{Backend: b2, Retry: eventsvc.RetryPolicy{MaxAttempts: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		DeadLetters: &eventsvctest.DeadLetters{}, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, pub.Start(context.Background()))
	defer stop(t, pub)
	err = pub.Publish(context.Background(), eventsvc.Event{Topic: "bitbucketCloud.repo:push"})
	require.ErrorContains(t, err, "kafka topic "+cfg.TopicPrefix+"bitbucketCloud.repo_push does not exist")
}

// TestReplicationFactorFollowsBrokers: created topics get 3 replicas, or one per broker when
// there are fewer.
func TestReplicationFactorFollowsBrokers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2))
	require.NoError(t, err)
	defer c.Close()
	cfg := testConfig(c.ListenAddrs())
	svc := service(t, cfg)
	require.NoError(t, svc.Publish(context.Background(), eventsvc.Event{Topic: "replicated"}))
	md, err := (&kafkago.Client{Addr: kafkago.TCP(c.ListenAddrs()...)}).Metadata(context.Background(), &kafkago.MetadataRequest{Topics: []string{cfg.TopicPrefix + "replicated"}})
	require.NoError(t, err)
	require.Len(t, md.Topics, 1)
	require.Len(t, md.Topics[0].Partitions, 3)
	require.Len(t, md.Topics[0].Partitions[0].Replicas, 2)
}

// TestHealthFollowsTheBroker: readiness reports the broker connection.
func TestHealthFollowsTheBroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	b, err := kafka.New(testConfig(c.ListenAddrs()), zerolog.Nop(), nil)
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	defer b.Close()
	require.NoError(t, b.Health(context.Background()))
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.Error(t, b.Health(ctx))
}

// TestStartFailsWithoutBrokers names the brokers it could not reach.
func TestStartFailsWithoutBrokers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	b, err := kafka.New(testConfig([]string{addr}), zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.ErrorContains(t, b.Start(ctx), "cannot reach the Kafka brokers ["+addr+"] (events.kafka.brokers)")

	_, err = kafka.New(testConfig(nil), zerolog.Nop(), nil)
	require.ErrorContains(t, err, "events.kafka.brokers: is required when events.bus is kafka")
}

// roundTrip publishes one event through a Service on cfg and waits for it.
func roundTrip(t *testing.T, cfg kafka.Config) {
	t.Helper()
	got := make(chan string, 1)
	svc := service(t, cfg, eventsvc.Subscription{ID: "rt", Topics: []string{"secure"}, Handler: func(_ context.Context, e eventsvc.Event) error {
		got <- e.ID
		return nil
	}})
	require.NoError(t, svc.Publish(context.Background(), eventsvc.Event{ID: "over-the-wire", Topic: "secure"}))
	select {
	case id := <-got:
		require.Equal(t, "over-the-wire", id)
	case <-time.After(30 * time.Second):
		t.Fatal("the event did not arrive")
	}
	stop(t, svc)
}

// TestSASL authenticates with each mechanism against kfake's SASL support, and refuses a
// wrong password at start-up.
func TestSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			brokers := fake(t, kfake.EnableSASL(), kfake.Superuser(mech, "stagebus", "s3cret-pass"))
			cfg := testConfig(brokers)
			cfg.SASL = kafka.SASLConfig{Mechanism: mech, Username: "stagebus", Password: config.Secret("s3cret-pass")}
			roundTrip(t, cfg)

			cfg.SASL.Password = "wrong"
			b, err := kafka.New(cfg, zerolog.Nop(), nil)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.Error(t, b.Start(ctx))
		})
	}
}

// TestTLS connects over TLS, trusting the broker's CA from events.kafka.tls.caFile, and fails
// without TLS.
func TestTLS(t *testing.T) {
	caFile, serverTLS := selfSigned(t)
	brokers := fake(t, kfake.TLS(serverTLS))
	cfg := testConfig(brokers)
	cfg.TLS = kafka.TLSConfig{Enabled: true, CAFile: caFile, ServerName: "localhost"}
	roundTrip(t, cfg)

	plain := testConfig(brokers)
	b, err := kafka.New(plain, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.Error(t, b.Start(ctx), "a plaintext client cannot talk to a TLS listener")
}

// selfSigned writes a CA certificate file and returns a server TLS config for localhost.
func selfSigned(t *testing.T) (caFile string, server *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return caFile, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}
