package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/ingress"
)

// MetaEventNameSource is the metadata key, set on every sub-topic event, that says where the
// sub-topic name came from: [FromUnsignedHeader] or [FromPayload].
const MetaEventNameSource = "event_name_source"

// Values of [MetaEventNameSource].
const (
	// FromUnsignedHeader: the name is a request header, which no provider signs (GitHub's
	// X-GitHub-Event, Bitbucket's X-Event-Key, Gitea's X-Gitea-Event). It is as trustworthy as
	// the request, not as the payload.
	FromUnsignedHeader = "unsigned-header"
	// FromPayload: the name is a field of the payload (GitLab's object_kind or event_name),
	// covered by the signature where the sender signs the body.
	FromPayload = "payload"
)

// NameFunc returns the sub-topic name of an event of the generic topic and where it came from
// (a MetaEventNameSource value); "" when the event has none.
type NameFunc func(e eventsvc.Event) (name, source string)

// FromMetadata returns a NameFunc that reads the first non-empty of the given metadata keys
// (the ingress lower-cases header names, so the keys are lower case).
func FromMetadata(keys ...string) NameFunc {
	return func(e eventsvc.Event) (string, string) {
		for _, k := range keys {
			if v := e.Metadata[k]; v != "" {
				return v, FromUnsignedHeader
			}
		}
		return "", ""
	}
}

// FromHeader returns an ingress.Source EventName that reads the first non-empty of the given
// headers as [FromMetadata] reads them from the event the ingress makes of the request
// (repeated values joined with ", "), so that the ingress and the router agree on the name.
func FromHeader(names ...string) func(http.Header, []byte) string {
	return func(h http.Header, _ []byte) string {
		for _, n := range names {
			if vs := h.Values(n); len(vs) > 0 {
				if v := strings.Join(vs, ", "); v != "" {
					return v
				}
			}
		}
		return ""
	}
}

// Known returns the set of event names that get a sub-topic: those a provider documents and
// the configured extras (events.http.topicOptions.<topic>.subTopics).
func Known(documented []string, extra ...string) map[string]bool {
	k := make(map[string]bool, len(documented)+len(extra))
	for _, lists := range [][]string{documented, extra} {
		for _, n := range lists {
			k[n] = true
		}
	}
	return k
}

// RouterParams are what a provider module's router constructor takes from the application:
// the publisher, and events.http for the configured extra event names (absent when the
// ingress module is not part of the application).
type RouterParams struct {
	fx.In
	Publisher eventsvc.Publisher
	HTTP      ingress.Config `optional:"true"`
}

// SubTopics returns events.http.topicOptions.<topic>.subTopics.
func (p RouterParams) SubTopics(topic string) []string {
	return p.HTTP.TopicOptions[topic].SubTopics
}

// Router returns the subscription id on topic that republishes each event whose name is
// known on topic + "." + name, with the same id, key, time, payload and metadata, plus
// MetaEventNameSource. The traceparent is not copied: the sub-topic event carries the
// router's span, a child of the original event's in the same trace.
//
// Only known names make sub-topics, so that no sender can create topics (and the bus's
// per-topic metric series) at will: the name usually comes from an unsigned header. Known
// names are valid topic names (the documented lists are tested, subTopics validated). An event
// without a name or with an unknown one stays on topic alone (the ingress marked it with
// ingress.MetaEventNameUnknown and counted it) and is skipped with a debug log. A publish
// failure is returned, so that the bus retries the event and dead-letters it after its last
// attempt.
func Router(id, topic string, pub eventsvc.Publisher, name NameFunc, known map[string]bool) eventsvc.Subscription {
	return eventsvc.Subscription{ID: id, Topics: []string{topic}, Handler: func(ctx context.Context, e eventsvc.Event) error {
		n, source := name(e)
		if n == "" {
			zerolog.Ctx(ctx).Debug().Msg("event not routed: it has no event name")
			return nil
		}
		if !known[n] {
			zerolog.Ctx(ctx).Debug().Str("event_name", Clip(n)).Str("name_source", source).
				Msg("event not routed: its event name is not one the provider documents nor one listed in subTopics")
			return nil
		}
		sub := topic + "." + n
		meta := make(map[string]string, len(e.Metadata)+1)
		for k, v := range e.Metadata {
			if k != eventsvc.MetaTraceparent {
				meta[k] = v
			}
		}
		meta[MetaEventNameSource] = source
		out := eventsvc.Event{ID: e.ID, Topic: sub, Key: e.Key, Payload: e.Payload, Metadata: meta, Time: e.Time}
		if err := pub.Publish(ctx, out); err != nil {
			return fmt.Errorf("route %s event %s to %s: %w", topic, e.ID, sub, err)
		}
		return nil
	}}
}

// maxLogged bounds an unsigned, sender-chosen value written to a log line.
const maxLogged = 100

// Clip shortens s to at most 100 bytes (on a rune boundary) for logs and error messages.
func Clip(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	cut := maxLogged
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// HMAC returns an ingress.HMACVerifier of hex HMAC-SHA256 signatures in the first present of
// headers, after prefix, or nil when no secret is configured: the ingress then refuses the
// topic unless it is marked insecure.
func HMAC(headers []string, prefix string, secrets ingress.Secrets) ingress.Verifier {
	if len(secrets) == 0 {
		return nil
	}
	return ingress.HMACVerifier{Headers: headers, Prefix: prefix, Encoding: ingress.Hex, Secrets: secrets}
}

// ValidateSecrets reports each empty secret of the list configured at key: an empty HMAC key or
// token is one anybody can sign with.
func ValidateSecrets(key string, secrets ingress.Secrets) error {
	var errs []error
	for i, s := range secrets {
		if s.Value() == "" {
			k := key
			if len(secrets) > 1 {
				k = fmt.Sprintf("%s[%d]", key, i)
			}
			errs = append(errs, config.Fieldf(k, "must not be empty; leave the key out (and mark the topic insecure) to accept unsigned requests"))
		}
	}
	return errors.Join(errs...)
}

// String returns the string at a gjson path of a JSON payload, "" when it is absent or not a
// string.
func String(payload []byte, path string) string {
	r := gjson.GetBytes(payload, path)
	if r.Type != gjson.String {
		return ""
	}
	return r.Str
}
