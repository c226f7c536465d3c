package main

import (
	"math"
	"math/bits"
	"time"
)

// The latency histogram is log-linear, like HdrHistogram: values below histExact
// nanoseconds have a bucket each, above that every power of two is split into histSub equal
// buckets, so a bucket is at most 1/128 of its lower bound wide and the midpoint reported for
// it is within 0.4% of any value in it. It takes 58 KiB whatever the number of values.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits // sub-buckets per power of two
	histExact   = 2 * histSub      // values below this are counted exactly
	histBuckets = histExact + (63-histSubBits-1)*histSub
)

// histogram counts durations. The zero value is empty and ready; it is not safe for
// concurrent use (each worker has its own, merged at the end).
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(v int64) int {
	if v < histExact {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - (histSubBits + 1) // ≥ 1
	return histExact + (shift-1)*histSub + int(uint64(v)>>shift) - histSub
}

// bucketMid is the middle of bucket i's range of values.
func bucketMid(i int) int64 {
	if i < histExact {
		return int64(i)
	}
	shift := (i-histExact)/histSub + 1
	lo := int64((i-histExact)%histSub+histSub) << shift
	return lo + (int64(1)<<shift-1)/2
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q ≤ 1) by the nearest-rank method, never more than
// the largest value recorded; 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketMid(i)), h.max)
		}
	}
	return h.max
}
