package ops

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/axonhq/axon/platform/pg"
)

// Service prunes.
type Service struct {
	db    *pg.DB
	log   *slog.Logger
	store store
	keep  Retention
	batch int
}

// Pruned counts the rows each step touched.
type Pruned struct {
	RealtimeEvents int64
	RefreshTokens  int64
	EmailBodies    int64
	StripeEvents   int64
	ChannelInbound int64
	VoiceCalls     int64
}

// Prune runs every step, each in batches of autocommitted statements (a batch holds its locks
// only while it runs), and returns what it touched. It stops at the first error or when ctx
// ends; what was pruned before stays pruned and the next run continues.
func (s *Service) Prune(ctx context.Context, now time.Time) (Pruned, error) {
	var p Pruned
	steps := []struct {
		name   string
		query  string
		before time.Time
		n      *int64
	}{
		{"realtime_events", qPruneRealtimeEvents, now.Add(-s.keep.RealtimeEvents), &p.RealtimeEvents},
		{"refresh_tokens", qPruneRefreshTokens, now, &p.RefreshTokens},
		{"email bodies", qPruneEmailBodies, now.Add(-s.keep.EmailBodies), &p.EmailBodies},
		{"stripe_events", qPruneStripeEvents, now.Add(-s.keep.StripeEvents), &p.StripeEvents},
		{"channel_inbound", qPruneChannelInbound, now.Add(-s.keep.ChannelInbound), &p.ChannelInbound},
		{"voice_calls", qPruneVoiceCalls, now.Add(-s.keep.ChannelInbound), &p.VoiceCalls},
	}
	for _, st := range steps {
		for {
			if err := ctx.Err(); err != nil {
				return p, err
			}
			n, err := s.store.pruneBatch(ctx, s.db, st.query, st.before, s.batch)
			if err != nil {
				return p, fmt.Errorf("ops: prune %s: %w", st.name, err)
			}
			*st.n += n
			if n < int64(s.batch) {
				break
			}
		}
	}
	return p, nil
}
