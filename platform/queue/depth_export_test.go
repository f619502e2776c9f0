package queue

// NewDepthCollectorWith exposes the collector with its query, clock and TTL injected.
var NewDepthCollectorWith = newDepthCollector
