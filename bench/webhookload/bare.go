package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// bareMaxBody is the bare server's request body limit.
const bareMaxBody = 5 << 20

// readyPrefix starts the line the bare server prints on stdout once it accepts connections,
// followed by its address.
const readyPrefix = "webhookload: bare server listening on "

// githubPath is the Stagebus ingress route of the github topic, the one the bare server serves.
const githubPath = "/api/events/http/github"

// bareHandler is the baseline: POST githubPath reads the body (at most bareMaxBody bytes),
// checks X-Hub-Signature-256 in constant time and answers 202. Nothing else.
func bareHandler(secret string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+githubPath, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, bareMaxBody))
		if err != nil {
			if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, `{"error":"request body too large"}`)
				return
			}
			writeJSON(w, http.StatusBadRequest, `{"error":"cannot read the request body"}`)
			return
		}
		if !validSignature(secret, r.Header.Get("X-Hub-Signature-256"), body) {
			writeJSON(w, http.StatusUnauthorized, `{"error":"invalid X-Hub-Signature-256"}`)
			return
		}
		writeJSON(w, http.StatusAccepted, `{"status":"accepted"}`)
	})
	return mux
}

// validSignature reports whether header is "sha256=" and the hex HMAC-SHA256 of body keyed
// by secret, compared in constant time.
func validSignature(secret, header string, body []byte) bool {
	enc, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(enc)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), got)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body+"\n")
}

// serveBare runs the bare server on listen until ctx is cancelled, printing the readyPrefix
// line to stdout once it listens.
func serveBare(ctx context.Context, listen, secret string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("bare server: %w", err)
	}
	srv := &http.Server{Handler: bareHandler(secret), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintln(stdout, readyPrefix+ln.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("bare server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("bare server shutdown: %w", err)
	}
	return nil
}
