package audit

// AppendLock is the PostgreSQL advisory lock that serialises appends, for tests that hold it.
const AppendLock = appendLock

// Queued returns how many records wait in the batch being filled (aggregated ones counted).
func (w *Writer) Queued() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil {
		return 0
	}
	n := int64(len(w.cur.records))
	for _, a := range w.cur.aggs {
		n += a.count
	}
	return n
}

// Committing returns how many records the batch under commit holds.
func (w *Writer) Committing() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committing
}
