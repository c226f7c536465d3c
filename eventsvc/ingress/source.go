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

// Source is what a provider module contributes for one webhook topic.
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
