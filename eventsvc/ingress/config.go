package ingress

import (
	"errors"
	"fmt"
	"time"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
)

// Config is events.http.
type Config struct {
	// Topics get a route POST /api/events/http/{topic}.
	Topics []string `yaml:"topics"`
	// MaxBodyBytes caps a request body (default 5 MiB); larger requests are answered 413.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// DedupRetention is how long delivery ids are remembered (default and minimum 72h: GitHub
	// redelivers within 3 days).
	DedupRetention time.Duration `yaml:"dedupRetention"`
	// PublishTimeout bounds the publish of one webhook (default 10s); the Kafka bus has its own
	// events.kafka.publishTimeout as well.
	PublishTimeout time.Duration `yaml:"publishTimeout"`
	// TopicOptions configure topics that no provider module handles, and rate limits.
	TopicOptions map[string]TopicOptions `yaml:"topicOptions"`
}

// TopicOptions is events.http.topicOptions.<topic>.
type TopicOptions struct {
	// Verifier is standard-webhooks or hmac-sha256, for topics no provider module verifies.
	Verifier string `yaml:"verifier"`
	// Secrets are the keys: whsec_… for standard-webhooks, shared secrets for hmac-sha256.
	Secrets Secrets `yaml:"secrets"`
	// SignatureHeader carries the hmac-sha256 signature (default [DefaultSignatureHeader]).
	SignatureHeader string `yaml:"signatureHeader"`
	// SignaturePrefix is stripped from the header value before decoding (e.g. sha256=).
	SignaturePrefix string `yaml:"signaturePrefix"`
	// SignatureEncoding is hex (default) or base64.
	SignatureEncoding Encoding `yaml:"signatureEncoding"`
	// DeliveryIDHeader names the header with the sender's delivery id, for deduplication
	// (standard-webhooks uses webhook-id without it).
	DeliveryIDHeader string `yaml:"deliveryIdHeader"`
	// Insecure accepts unverified requests on this topic. Never in production.
	Insecure bool `yaml:"insecure"`
	// RateLimit caps requests per second on this topic (off by default).
	RateLimit *RateLimit `yaml:"rateLimit"`
	// SubTopics are event names that get a sub-topic (<topic>.<name>) besides those the
	// topic's provider documents, e.g. an event GitHub added after this release. Only topics
	// whose provider module routes sub-topics accept it.
	SubTopics []string `yaml:"subTopics"`
}

// RateLimit is a token bucket.
type RateLimit struct {
	// RequestsPerSecond is the sustained rate.
	RequestsPerSecond float64 `yaml:"requestsPerSecond"`
	// Burst is how many requests may come at once (default: one second's worth).
	Burst int `yaml:"burst"`
}

// SetDefaults: 5 MiB bodies, 72h deduplication, 10s publish timeout.
func (c *Config) SetDefaults() {
	c.MaxBodyBytes = 5 << 20
	c.DedupRetention = 72 * time.Hour
	c.PublishTimeout = 10 * time.Second
}

// DefaultSignatureHeader carries the signature of an hmac-sha256 topic without a
// signatureHeader.
const DefaultSignatureHeader = "X-Signature-256"

// Verifier names.
const (
	VerifierStandardWebhooks = "standard-webhooks"
	VerifierHMACSHA256       = "hmac-sha256"
)

// Validate checks the values that do not depend on provider modules.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range c.Topics {
		if err := eventsvc.ValidateTopic(t); err != nil {
			errs = append(errs, config.Fieldf(fmt.Sprintf("topics[%d]", i), "%v", err))
		}
		if seen[t] {
			errs = append(errs, config.Fieldf(fmt.Sprintf("topics[%d]", i), "%s is listed twice", t))
		}
		seen[t] = true
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, config.Fieldf("maxBodyBytes", "must be at least 1024"))
	}
	if c.DedupRetention < 72*time.Hour {
		errs = append(errs, config.Fieldf("dedupRetention", "must be at least 72h (senders redeliver for 3 days), got %s", c.DedupRetention))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, config.Fieldf("publishTimeout", "must be positive"))
	}
	for topic, o := range c.TopicOptions {
		key := "topicOptions." + topic
		if !seen[topic] {
			errs = append(errs, config.Fieldf(key, "%s is not in events.http.topics", topic))
		}
		switch o.Verifier {
		case "", VerifierStandardWebhooks, VerifierHMACSHA256:
		default:
			errs = append(errs, config.Fieldf(key+".verifier", "must be %s or %s, got %q", VerifierStandardWebhooks, VerifierHMACSHA256, o.Verifier))
		}
		if o.Verifier != "" && len(o.Secrets) == 0 {
			errs = append(errs, config.Fieldf(key+".secrets", "a %s verifier needs at least one secret", o.Verifier))
		}
		if o.Verifier == VerifierStandardWebhooks {
			for i, s := range o.Secrets {
				if _, err := StandardWebhooksKey(s.Value()); err != nil {
					errs = append(errs, config.Fieldf(fmt.Sprintf("%s.secrets[%d]", key, i), "%v", err))
				}
			}
		}
		switch o.SignatureEncoding {
		case "", Hex, Base64:
		default:
			errs = append(errs, config.Fieldf(key+".signatureEncoding", "must be hex or base64"))
		}
		if o.Insecure && o.Verifier != "" {
			errs = append(errs, config.Fieldf(key+".insecure", "a topic with a verifier cannot be insecure"))
		}
		for i, name := range o.SubTopics {
			if err := eventsvc.ValidateTopic(topic + "." + name); name == "" || err != nil {
				errs = append(errs, config.Fieldf(fmt.Sprintf("%s.subTopics[%d]", key, i),
					"%q does not make a valid sub-topic %s.%s: use letters, digits, '.', '_', '-' and ':'", name, topic, name))
			}
		}
		if r := o.RateLimit; r != nil && (r.RequestsPerSecond <= 0 || r.Burst < 0) {
			errs = append(errs, config.Fieldf(key+".rateLimit", "requestsPerSecond must be positive and burst not negative"))
		}
	}
	return errors.Join(errs...)
}

// genericSource builds the Source of a topic from its options (nil verifier when none).
func genericSource(topic string, o TopicOptions) Source {
	s := Source{Topic: topic, Secrets: []SecretSetting{{Key: "events.http.topicOptions." + topic + ".secrets", Values: o.Secrets}}}
	switch o.Verifier {
	case VerifierStandardWebhooks:
		s.Verifier = StandardWebhooksVerifier{Secrets: o.Secrets}
		s.DeliveryID = HeaderDeliveryID(HeaderWebhookID)
		s.SignatureHeaders = []string{HeaderWebhookSignature}
	case VerifierHMACSHA256:
		header := o.SignatureHeader
		if header == "" {
			header = DefaultSignatureHeader
		}
		enc := o.SignatureEncoding
		if enc == "" {
			enc = Hex
		}
		s.Verifier = HMACVerifier{Headers: []string{header}, Prefix: o.SignaturePrefix, Encoding: enc, Secrets: o.Secrets}
		s.SignatureHeaders = []string{header}
	}
	if o.DeliveryIDHeader != "" {
		s.DeliveryID = HeaderDeliveryID(o.DeliveryIDHeader)
	}
	return s
}
