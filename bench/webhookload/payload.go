package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"text/template"
)

// pushTemplate is a GitHub push event payload with the fields GitHub sends (repository,
// pusher, organization, sender, commits, head_commit), trimmed to the common ones.
//
//go:embed push.json.tmpl
var pushTemplate string

var pushTmpl = template.Must(template.New("push").Parse(pushTemplate))

// owner is the organization the generated repositories belong to.
const owner = "stagebus-bench"

// delivery is one pre-built request body: the push payload of one repository, compact as
// GitHub sends it, and its X-Hub-Signature-256 value.
type delivery struct {
	repo      string // full_name
	repoID    int64
	body      []byte
	signature string
}

// commitData fills the commit template; Message and Added are JSON already (a string, and
// the elements of an array).
type commitData struct {
	ID, TreeID, FullName, Message, Added string
	Seq                                  int
}

// pushData fills the push template.
type pushData struct {
	RepoID                                 int64
	Name, FullName, Owner                  string
	Before, After, BeforeShort, AfterShort string
	Commits                                []commitData
	Head                                   commitData
}

// sha returns a stable, realistic-looking 40-hex-digit git object id.
func sha(parts ...any) string {
	s := sha1.Sum(fmt.Append(nil, parts...))
	return hex.EncodeToString(s[:])
}

// pushBody renders the push payload of repository number i: repositories with an odd number
// get two commits, the others one.
func pushBody(i int) (fullName string, repoID int64, body []byte, err error) {
	name := fmt.Sprintf("service-%02d", i)
	fullName = owner + "/" + name
	repoID = 812000000 + int64(i)
	d := pushData{
		RepoID: repoID, Name: name, FullName: fullName, Owner: owner,
		Before: sha(fullName, "before"), After: sha(fullName, "after"),
	}
	d.BeforeShort, d.AfterShort = d.Before[:12], d.After[:12]
	n := 1 + i%2
	for k := range n {
		id := sha(fullName, "commit", k)
		if k == n-1 {
			id = d.After
		}
		msg, _ := json.Marshal(fmt.Sprintf("catalog: move %s to the platform team (#%d)", name, 100+k))
		added := "" // the first commit adds a file, the others only modify one
		if k == 0 {
			added = `"docs/adr/001-ownership.md"`
		}
		d.Commits = append(d.Commits, commitData{
			ID: id, TreeID: sha(fullName, "tree", k), FullName: fullName,
			Message: string(msg), Added: added, Seq: k,
		})
	}
	d.Head = d.Commits[n-1]
	var pretty bytes.Buffer
	if err := pushTmpl.Execute(&pretty, d); err != nil {
		return "", 0, nil, fmt.Errorf("render push payload: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, pretty.Bytes()); err != nil {
		return "", 0, nil, fmt.Errorf("compact push payload: %w", err)
	}
	return fullName, repoID, compact.Bytes(), nil
}

// buildDeliveries pre-builds the bodies of n repositories, each signed once with secret.
func buildDeliveries(n int, secret string) ([]delivery, error) {
	ds := make([]delivery, n)
	for i := range ds {
		repo, id, body, err := pushBody(i)
		if err != nil {
			return nil, err
		}
		ds[i] = delivery{repo: repo, repoID: id, body: body, signature: sign(secret, body)}
	}
	return ds, nil
}

// sign returns GitHub's X-Hub-Signature-256 value for body: "sha256=" and the hex
// HMAC-SHA256 of the exact body bytes keyed by secret.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
