package realtime

// SetBeforeReplay runs f between a stream's Subscribe and its replay query.
func (h *Hub) SetBeforeReplay(f func()) { h.beforeReplay.Store(&f) }

// SetBeforeReconnect runs f before each LISTEN reconnection attempt.
func (h *Hub) SetBeforeReconnect(f func()) { h.beforeReconnect.Store(&f) }
