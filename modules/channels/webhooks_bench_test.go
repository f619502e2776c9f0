package channels

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/modules/channels/outbound"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
)

// benchClients is how many concurrent senders the webhook benchmarks use (a platform
// delivers many webhooks at once).
const benchClients = 16

// runConcurrent runs op n times across benchClients goroutines and returns the rate
// (ops/s) and the 99th percentile latency (ms).
func runConcurrent(b *testing.B, n int, op func(i int) error) (perSec, p99 float64) {
	b.Helper()
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds(), pct(lat, 99)
}

// BenchmarkWebhookAccept is what a platform waits for: signed WhatsApp messages through the
// whole HTTP stack (channel lookup, credential decryption, signature check, parse, the
// inbox INSERT and the River insert in one transaction, the 200). The baseline, measured in
// the same run with the same concurrency, is that transaction alone: one bare INSERT into
// channel_inbound plus River's insert of the job. Reported: accepted/s, p99 and the ratio
// of rates (accept-x-bare; 1.0 would be free HTTP, verification and lookup).
func BenchmarkWebhookAccept(b *testing.B) {
	he := newHookEnv(b)
	w := he.NewWorkspace("STARTER", 10)
	ag := he.agent(b, w, nil)
	path := he.channel(b, w, ag, "WHATSAPP")
	secret := he.fake.Creds().AppSecret
	var chID string
	if err := he.DB.Get(&chID, `SELECT id FROM channels WHERE workspace_id = $1 AND type = 'WHATSAPP'`, w.ID); err != nil {
		b.Fatal(err)
	}
	client := he.Server.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = benchClients
	ctx := context.Background()
	n := max(b.N, 200)

	barePerSec, bareP99 := runConcurrent(b, n, func(i int) error {
		return he.mod.svc.db.InTx(ctx, func(tx *sqlx.Tx) error {
			id, err := he.mod.svc.st.insertInbound(ctx, tx, newInbound{
				WorkspaceID: w.ID, ChannelID: chID,
				ExternalID: fmt.Sprintf("bare-%d-%d", b.N, i), Sender: "+15550001111", Content: "Hello",
			})
			if err != nil {
				return err
			}
			_, err = he.mod.svc.queue.InsertTx(ctx, tx.Tx, ProcessInboundArgs{WorkspaceID: w.ID, InboundID: id}, nil)
			return err
		})
	})
	b.ResetTimer()
	perSec, p99 := runConcurrent(b, n, func(i int) error {
		body := waText(fmt.Sprintf("wamid.bench-%d-%d", b.N, i), fmt.Sprintf("1555%07d", i%5000), "Do you ship to Canada?")
		req, _ := http.NewRequest(http.MethodPost, he.Server.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", fakeplatforms.SignMeta(body, secret))
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("webhook: %d", res.StatusCode)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(perSec, "accepted/s")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(barePerSec, "bare/s")
	b.ReportMetric(bareP99, "bare-p99-ms")
	b.ReportMetric(perSec/barePerSec, "accept-x-bare")
}

// BenchmarkSendJob is the channels.send_message job's work (load the message, its
// conversation and channel, decrypt, send, record SENT) against a fake WhatsApp that answers
// at once, sequentially; the baseline is the bare POST of the same request body to the same
// fake, in the same run.
func BenchmarkSendJob(b *testing.B) {
	he := newHookEnv(b)
	w := he.NewWorkspace("STARTER", 10_000_000)
	ag := he.agent(b, w, nil)
	he.channel(b, w, ag, "WHATSAPP")
	ctx := context.Background()
	n := max(b.N, 100)
	ids := make([]string, n)
	for i := range n {
		rep, err := he.mod.svc.Respond(ctx, Inbound{
			WorkspaceID: w.ID, AgentID: ag, ChannelType: "WHATSAPP",
			CustomerID: fmt.Sprintf("+1555%07d", i), Content: "hi",
		}, nil)
		if err != nil || rep.Message == nil {
			b.Fatalf("%+v %v", rep, err)
		}
		ids[i] = rep.Message.ID
	}
	sender, _ := outbound.New(outbound.Config{WhatsAppBase: he.fake.GraphBase()}).For("WHATSAPP")
	creds := he.fake.ChannelCreds("WHATSAPP")
	start := time.Now()
	for range n {
		if _, err := sender.Send(ctx, outbound.Delivery{Creds: creds, To: "+15550001111", Text: "Answer to: hi"}); err != nil {
			b.Fatal(err)
		}
	}
	bare := float64(n) / time.Since(start).Seconds()
	b.ResetTimer()
	start = time.Now()
	for _, id := range ids {
		if err := he.mod.svc.deliver(ctx, w.ID, id, false); err != nil {
			b.Fatal(err)
		}
	}
	perSec := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(perSec, "sends/s")
	b.ReportMetric(bare, "bare-post/s")
	b.ReportMetric(perSec/bare, "job-x-post")
}
