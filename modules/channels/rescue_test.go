package channels

import (
	"testing"
	"time"

	"github.com/axonhq/axon/platform/queue"
)

// TestRescuesDeclared: every channels job kind a customer waits on is in the short rescue,
// and each rescue threshold is above the kind's worker Timeout (River has cancelled a live
// attempt before queue.rescue takes the job back) by queue.RescueMargin.
func TestRescuesDeclared(t *testing.T) {
	timeouts := map[string]time.Duration{
		ProcessInboundArgs{}.Kind(): (&inboundWorker{}).Timeout(nil),
		HandoffArgs{}.Kind():        (&handoffWorker{}).Timeout(nil),
		SendMessageArgs{}.Kind():    (&sendWorker{}).Timeout(nil),
	}
	got := (&Module{}).Rescues()
	if len(got) != len(timeouts) {
		t.Fatalf("rescues %+v, want one per kind of %v", got, timeouts)
	}
	for _, r := range got {
		timeout, ok := timeouts[r.Kind]
		if !ok {
			t.Fatalf("rescue of unknown kind %q", r.Kind)
		}
		if timeout <= 0 || r.Timeout != timeout || r.After <= timeout || r.After != timeout+queue.RescueMargin {
			t.Errorf("%s: rescue %+v, worker timeout %s: want After = timeout + %s", r.Kind, r, timeout, queue.RescueMargin)
		}
	}
}
