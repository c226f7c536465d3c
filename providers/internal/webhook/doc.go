// Package webhook holds what the provider modules' ingress sources share: the EventName that
// reads a header, the HMAC verifier that is nil without secrets (so that the ingress fails
// closed), the validation of configured secrets, and reading one string from a JSON payload or
// clipping a sender's value for a log line.
package webhook
