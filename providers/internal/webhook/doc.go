// Package webhook holds what the provider modules share: the sub-topic router every provider
// contributes (as Backstage's SubTopicEventRouter, but keeping the event id, key, time and
// metadata, and only for event names the provider documents or subTopics lists), the HMAC verifier that is nil without secrets (so that the ingress fails closed),
// the validation of configured secrets, and reading one string from a JSON payload.
package webhook
