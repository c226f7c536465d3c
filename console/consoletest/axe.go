package consoletest

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// axeSource is axe-core 4.14.1 (Deque Systems, MPL-2.0: axe/LICENSE), the accessibility
// engine, from npm (npm pack axe-core@4.14.1), unchanged.
//
//go:embed axe/axe.min.js
var axeSource string

// axeSHA256 pins axeSource: a changed file is a deliberate upgrade, made here too.
const axeSHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"

// WCAG21AA are the axe rule tags of WCAG 2.1 levels A and AA.
var WCAG21AA = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// violation is one rule axe found broken, with the elements that break it.
type violation struct {
	ID, Impact, Help string
	Nodes            []struct{ Target []any }
}

// CheckAccessibility runs axe-core on the page of ctx with the rules of tags (default
// WCAG21AA) and fails t listing every violation (rule, impact, the elements, axe's help).
// The page keeps axe loaded afterwards.
func CheckAccessibility(t testing.TB, ctx context.Context, tags ...string) {
	t.Helper()
	got := violations(t, ctx, tags)
	if len(got) == 0 {
		return
	}
	var b strings.Builder
	for _, v := range got {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target...))
		}
		fmt.Fprintf(&b, "\n\t%s (%s): %s — %s", v.ID, v.Impact, v.Help, strings.Join(where, ", "))
	}
	fail(t, ctx, "CheckAccessibility: %d WCAG violation(s):%s", len(got), b.String())
}

// violations runs axe on the page of ctx.
func violations(t testing.TB, ctx context.Context, tags []string) []violation {
	t.Helper()
	if sum := sha256.Sum256([]byte(axeSource)); hex.EncodeToString(sum[:]) != axeSHA256 {
		t.Fatalf("consoletest: axe/axe.min.js is not the pinned axe-core 4.14.1")
	}
	if len(tags) == 0 {
		tags = WCAG21AA
	}
	// Evaluated through the DevTools protocol, which the page's CSP does not govern (an
	// eval() in the page would be refused).
	if !Eval[bool](t, ctx, `!!window.axe`) {
		Eval[bool](t, ctx, axeSource+"\n;true")
	}
	script := `(async () => {
		const r = await axe.run(document, {runOnly: {type: "tag", values: ` + jsArray(tags) + `}, resultTypes: ["violations"]});
		return r.violations.map(v => ({ID: v.id, Impact: v.impact || "", Help: v.help, Nodes: v.nodes.map(n => ({Target: n.target}))}));
	})()`
	return Eval[[]violation](t, ctx, script)
}

func jsArray(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = jsString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
