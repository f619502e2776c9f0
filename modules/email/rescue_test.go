package email

import (
	"testing"

	"github.com/axonhq/axon/platform/queue"
)

// TestRescuesDeclared: email.send is in the short rescue, above its worker's Timeout (River
// has cancelled a live attempt before queue.rescue takes the job back) by the margin.
func TestRescuesDeclared(t *testing.T) {
	timeout := (&sendWorker{}).Timeout(nil)
	got := (&Module{}).Rescues()
	if len(got) != 1 || got[0].Kind != (SendArgs{}).Kind() || got[0].Timeout != timeout ||
		got[0].After <= timeout || got[0].After != timeout+queue.RescueMargin {
		t.Fatalf("rescues %+v, want email.send after %s + %s", got, timeout, queue.RescueMargin)
	}
}
