package outbox

// Backlog is what waits for the collector: the messages queued and not
// acknowledged (counted by sequence number, so at most that many) and the
// bytes the spool's files take.
func (o *Outbox) Backlog() (messages uint64, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if last, acked := o.sp.LastSeq(), o.sp.Acked(); last > acked {
		messages = last - acked
	}
	return messages, o.sp.Size()
}
