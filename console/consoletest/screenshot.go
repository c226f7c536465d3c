package consoletest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// ScreenshotDir is where Screenshot writes, relative to the repository root (the nearest
// directory above the test's working directory with a go.mod). The repository ignores it.
const ScreenshotDir = "test-output/console"

// Screenshot saves a PNG of the whole page of the tab of ctx, beyond the viewport, as
// ScreenshotDir/<name>.png, creating the directories and replacing an older file; it logs
// and returns the path. name is a file name such as "events-de": a ".png" suffix is
// dropped, and characters other than letters, digits, '.', '_' and '-' become '-'.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		fail(t, ctx, "Screenshot(%q): %v", name, err)
	}
	path, err := writeScreenshot(name, png)
	if err != nil {
		t.Fatalf("consoletest: Screenshot(%q): %v", name, err)
	}
	t.Logf("consoletest: screenshot %s", path)
	return path
}

// writeScreenshot writes png as ScreenshotDir/<name>.png and returns its path.
func writeScreenshot(name string, png []byte) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, filepath.FromSlash(ScreenshotDir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fileName(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// fileName makes name safe as a file name.
func fileName(name string) string {
	name = strings.TrimSuffix(name, ".png")
	name = strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, name)
	if strings.Trim(name, ".") == "" {
		name = "screenshot" + name
	}
	return name
}

// repoRoot is the nearest directory at or above the working directory that holds a go.mod.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod at or above %s", wd)
		}
	}
}
