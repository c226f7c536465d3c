package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/console/consoletest"
)

// TestConsoleAudit walks the Audit log page as an admin: the guest's sign-in is in the log,
// the list filters by event id, Verify finds the chain intact against the last checkpoint,
// and a checkpoint taken on the page is shown; then the same in German.
func TestConsoleAudit(t *testing.T) {
	t.Parallel()
	a := startConsoleApp(t)
	ctx := consoletest.Tab(t, consoletest.TabOptions{AcceptLanguage: "en-GB"})

	// Signing in as the guest writes audit records (sign-in, token-issue).
	consoletest.Navigate(t, ctx, a.url+"/audit")
	require.Equal(t, a.url+"/signin?next=%2Faudit", consoletest.Location(t, ctx))
	consoletest.Click(t, ctx, "#signin-guest")
	consoletest.WaitText(t, ctx, "main h1", "Audit log")
	require.Equal(t, a.url+"/audit", consoletest.Location(t, ctx))
	// The records are written while the sign-in answers; reload until they are listed.
	waitReload(t, ctx, `#audit-body tr[data-id] td.actor`, "user:development/guest")
	consoletest.WaitText(t, ctx, "#audit-body", "sign-in")
	consoletest.WaitText(t, ctx, "#audit-body", "token-issue")

	// Filter by event id: only sign-ins, the guest's among them.
	consoletest.SetValue(t, ctx, "#eventId", "sign-in")
	consoletest.Click(t, ctx, "#filter")
	consoletest.WaitText(t, ctx, "#audit-total", "match")
	require.Contains(t, consoletest.Location(t, ctx), "eventId=sign-in")
	events := consoletest.Eval[[]string](t, ctx, `[...document.querySelectorAll("#audit-body td.event")].map(td => td.textContent.trim())`)
	require.NotEmpty(t, events)
	for _, e := range events {
		require.Equal(t, "sign-in", e)
	}
	require.Contains(t, consoletest.Text(t, ctx, "#audit-body tr:first-child td.actor"), "user:development/guest")
	require.Contains(t, consoletest.Text(t, ctx, "#audit-body tr:first-child"), "POST /signin/guest")

	// Verify: the chain is intact and extends the last checkpoint (the one taken at start).
	consoletest.Click(t, ctx, "#verify")
	consoletest.WaitText(t, ctx, "#verify-status", "Intact")
	require.Contains(t, consoletest.Text(t, ctx, "#verify-status"), "extends the last checkpoint")
	require.Contains(t, consoletest.Location(t, ctx), "/audit/verify?eventId=sign-in")

	// Take a checkpoint: back on the list with a notice, the checkpoint from the history.
	consoletest.Click(t, ctx, "#take-checkpoint")
	consoletest.WaitText(t, ctx, ".notice", "A checkpoint was taken")
	require.Contains(t, consoletest.Location(t, ctx), "/audit?eventId=sign-in&notice=notice.audit.checkpoint_taken")
	consoletest.WaitText(t, ctx, "#checkpoint", "in the history")
	require.NotEqual(t, "0", strings.TrimSpace(consoletest.Text(t, ctx, "#checkpoint-rows")))
	consoletest.Click(t, ctx, "#audit-body tr:first-child summary")
	consoletest.WaitVisible(t, ctx, "#audit-body tr:first-child table.meta")
	require.Contains(t, consoletest.Text(t, ctx, "#audit-body tr:first-child table.meta"), "guest")
	consoletest.Screenshot(t, ctx, "audit-en")

	// German: labels, the notice, and dates in the browser's time zone.
	consoletest.Click(t, ctx, `form.lang button[value="de"]`)
	consoletest.WaitText(t, ctx, "main h1", "Audit-Protokoll")
	require.Equal(t, "de", consoletest.Attr(t, ctx, "html", "lang"))
	consoletest.WaitText(t, ctx, ".notice", "Ein Prüfpunkt wurde gesetzt")
	consoletest.WaitText(t, ctx, "#audit-table caption", "Audit-Einträge, die neuesten zuerst")
	consoletest.WaitText(t, ctx, "#audit-table thead", "Schweregrad")
	date := consoletest.Text(t, ctx, "#audit-body tr:first-child time")
	require.Regexp(t, `^\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}:\d{2}$`, date)
	consoletest.Click(t, ctx, "#verify")
	consoletest.WaitText(t, ctx, "#verify-status", "Unversehrt")
	require.Contains(t, consoletest.Text(t, ctx, "#verify-status"), "setzt den letzten Prüfpunkt fort")
	consoletest.WaitText(t, ctx, "#checkpoint", "in der Historie")
	consoletest.Screenshot(t, ctx, "audit-de")
}
