package ingress

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/fx"
)

// ErrBadSignature is wrapped by verification failures (answered 401).
var ErrBadSignature = errors.New("request signature is missing or invalid")

// Verifier checks that a request comes from the configured sender, from its headers and raw
// body bytes, before anything is parsed. Comparisons are constant time. Errors wrap
// ErrBadSignature and never contain secrets or signatures.
type Verifier interface {
	Verify(h http.Header, body []byte, now time.Time) error
}

// Source is what a provider module contributes for one webhook topic. The ingress knows no
// provider by name: everything provider-specific (headers, configuration keys, event names)
// comes from here.
type Source struct {
	// Topic is the ingress topic, e.g. github.
	Topic string
	// Verifier checks requests; nil when the provider has no secret configured, which refuses
	// start-up unless the topic is marked insecure.
	Verifier Verifier
	// DeliveryID returns the sender's delivery id, "" when the request has none.
	DeliveryID func(h http.Header) string
	// Inspect returns the event's ordering key (e.g. the repository) from the headers and the
	// JSON payload, and checks what the payload says about itself (answered 400 on error). Nil
	// means no key and no check.
	Inspect func(h http.Header, payload []byte) (key string, err error)
	// EventName returns the event's name, which makes its sub-topic topic + "." + name; ""
	// when there is none. Nil when the topic has no sub-topics.
	EventName func(h http.Header, payload []byte) string
	// EventNameSource says where EventName reads the name: [FromUnsignedHeader] or
	// [FromPayload]; sub-topic events carry it as [MetaEventNameSource].
	EventNameSource string
	// KnownEvents are the event names the provider documents. Only these, and those listed
	// in events.http.topicOptions.<topic>.subTopics, get a sub-topic; an event with any other
	// name stays on the topic, marked with [MetaEventNameUnknown], and is counted in
	// stagebus_ingress_unknown_event_names_total.
	KnownEvents []string
	// SignatureHeaders name the request headers that carry a signature or a shared secret;
	// they are never copied into the event's metadata, so that nobody who can read the bus
	// can replay a request.
	SignatureHeaders []string
	// Secrets are the configuration keys of the source's secrets with their values (none
	// when unset): start-up messages name the keys, and production refuses a secret shorter
	// than [MinSecretLength].
	Secrets []SecretSetting
}

// SecretSetting is one configuration key holding webhook secrets, e.g.
// events.modules.github.webhookSecret.
type SecretSetting struct {
	// Key is the full configuration key.
	Key string
	// Values are the configured secrets, empty when the key is unset.
	Values Secrets
}

// AsSource annotates a constructor returning a Source so that it joins the "ingress.sources"
// group.
func AsSource(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"ingress.sources"`))
}

// HeaderDeliveryID returns a DeliveryID function that reads the first non-empty of the given
// headers.
func HeaderDeliveryID(names ...string) func(http.Header) string {
	return func(h http.Header) string {
		for _, n := range names {
			if v := h.Get(n); v != "" {
				return v
			}
		}
		return ""
	}
}
