package console

import (
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestColourContrast checks the stylesheet's colour pairs against WCAG 2.1 AA: 4.5:1 for
// text, 3:1 for focus rings, borders of controls and chart lines.
func TestColourContrast(t *testing.T) {
	t.Parallel()
	css, err := assetFiles.ReadFile("assets/console.css")
	require.NoError(t, err)
	colours := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z0-9-]+):\s*(#[0-9a-f]{6});`).FindAllStringSubmatch(string(css), -1) {
		colours[m[1]] = m[2]
	}
	text := [][2]string{
		{"fg", "bg"}, {"fg", "surface"}, {"muted", "bg"}, {"muted", "surface"}, {"accent", "bg"}, {"accent", "surface"},
		{"accent-fg", "accent"}, {"danger", "bg"}, {"ok", "bg"}, {"warn", "bg"}, {"ok", "surface"},
	}
	ui := [][2]string{{"focus", "bg"}, {"focus", "surface"}, {"line", "bg"}, {"accent", "bg"}}
	for i := 1; i <= 8; i++ {
		ui = append(ui, [2]string{"chart-" + strconv.Itoa(i), "bg"})
	}
	check := func(pairs [][2]string, want float64) {
		for _, p := range pairs {
			a, b := colours[p[0]], colours[p[1]]
			require.NotEmpty(t, a, "--%s is not declared", p[0])
			require.NotEmpty(t, b, "--%s is not declared", p[1])
			got := contrast(a, b)
			require.GreaterOrEqual(t, got, want, "--%s on --%s: %.2f:1, WCAG AA needs %.1f:1", p[0], p[1], got, want)
		}
	}
	check(text, 4.5)
	check(ui, 3)
	require.InDelta(t, 21, contrast("#000000", "#ffffff"), 0.01)
}

// contrast is WCAG's contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var rgb [3]float64
	for i := range rgb {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			rgb[i] = c / 12.92
		} else {
			rgb[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
}
