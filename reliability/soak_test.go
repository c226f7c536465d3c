//go:build reliability

package reliability

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	// soakEvery paces the soak's workers at half the scenarios' rate, 25 pushes a second per
	// key, so that the recorder keeps up and what is measured is the binary, not a backlog.
	soakEvery = 40 * time.Millisecond
	// soakSample is how often the soak samples the instance's memory and goroutines.
	soakSample = 30 * time.Second
	// soakGrowth bounds how much the largest sample of the soak's second half may exceed the
	// largest of its first half: above that, memory or goroutines have not levelled off.
	soakGrowth = 1.25
)

// sample is one measurement of the soaked instance.
type sample struct {
	at         time.Duration // since the load started
	rssKB      int           // VmRSS
	heapKB     int           // go_memstats_heap_inuse_bytes on /metrics, shown to tell the Go heap from the rest of RSS (the race detector's)
	goroutines int           // go_goroutines on /metrics
}

// TestSoak runs one instance on the Kafka bus (events.kafka.outbox per -reliability.outbox)
// under a steady load the recorder keeps up with for -reliability.soak (default 10m), samples
// its resident memory (/proc/<pid>/status VmRSS) and goroutines (go_goroutines on /metrics)
// every 30 s, prints them as a table (with the Go heap in use, for information) and the scenario line, and requires that neither grew by
// more than a quarter from the largest sample of the first half to the largest of the second
// half, and that no acknowledged delivery was lost.
func TestSoak(t *testing.T) {
	require.GreaterOrEqual(t, *soakFor, 4*soakSample, "a soak needs at least four samples")
	name := "soak-" + kafkaName()
	b := kafkaPostgres(t)
	in := startInstance(t, freePort(t), b)
	l := newLoad(name+"-"+randomHex(3), soakEvery, []int{in.port})
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { l.run(stop); close(done) }()
	stopLoad := sync.OnceFunc(func() { close(stop); <-done })
	defer stopLoad()

	start := time.Now()
	var samples []sample
	for {
		samples = append(samples, sample{
			at:         time.Since(start),
			rssKB:      rssKB(t, in.cmd.Process.Pid),
			heapKB:     int(in.metric(t, "go_memstats_heap_inuse_bytes") / 1024),
			goroutines: int(in.metric(t, "go_goroutines")),
		})
		if time.Since(start) >= *soakFor {
			break
		}
		time.Sleep(soakSample)
	}
	stopLoad()
	end := time.Now()

	fmt.Printf("%-8s %10s %10s %10s\n", "t", "rss_kb", "heap_kb", "goroutines")
	for _, s := range samples {
		fmt.Printf("%-8s %10d %10d %10d\n", s.at.Round(time.Second), s.rssKB, s.heapKB, s.goroutines)
	}
	acked := l.ackedIDs()
	handledAt, rec, lost := waitHandled(t, b.db, acked)
	in.stop(t)
	r := result{name: name, sent: l.sent, acknowledged: len(acked), handled: len(acked) - lost, lost: lost, recovery: max(0, handledAt.Sub(end))}
	for _, row := range rec {
		r.duplicated += row.Deliveries - 1
	}
	fmt.Println(r)
	require.NotZero(t, r.acknowledged, "nothing was acknowledged")
	require.Zero(t, r.lost, "acknowledged deliveries were never handled")

	// The first sample is the idle instance, before the load: the halves start after it.
	first, second := samples[1:len(samples)/2+1], samples[len(samples)/2+1:]
	peak := func(s []sample, f func(sample) int) int {
		m := 0
		for _, x := range s {
			m = max(m, f(x))
		}
		return m
	}
	for _, m := range []struct {
		name string
		f    func(sample) int
	}{
		{"rss_kb", func(s sample) int { return s.rssKB }},
		{"goroutines", func(s sample) int { return s.goroutines }},
	} {
		a, b := peak(first, m.f), peak(second, m.f)
		require.LessOrEqual(t, float64(b), float64(a)*soakGrowth, "%s: the second half's peak %d is more than %.2f times the first half's %d", m.name, b, soakGrowth, a)
	}
}

// rssKB reads VmRSS, in kB, from /proc/<pid>/status.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err)
			return kb
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
