package billing

import (
	"testing"
	"time"

	"github.com/axonhq/axon/modules/billing/plans"
)

// BenchmarkDeductConcurrent: 50 goroutines each deduct 1 credit 200 times from a balance of
// 5,000 (one workspace, so every deduction queues on the same row). Each iteration checks
// the invariants: exactly 5,000 successes, a final balance of 0 and a ledger that sums to
// the balance. Run: APP_ENV=test go test -run '^$' -bench DeductConcurrent -benchtime 3x ./modules/billing/
func BenchmarkDeductConcurrent(b *testing.B) {
	te := newEnv(b, envOptions{noStripe: true})
	const goroutines, each, start = 50, 200, 5_000
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		ws := te.NewWorkspace(plans.Starter, start)
		b.StartTimer()
		t0 := time.Now()
		res := runDeductions(te.mod.Credits(), ws.ID, goroutines, each)
		total += time.Since(t0)
		b.StopTimer()
		if res.err != nil {
			b.Fatal(res.err)
		}
		if res.ok != start || res.refused != goroutines*each-start {
			b.Fatalf("succeeded %d, refused %d; want %d and %d", res.ok, res.refused, start, goroutines*each-start)
		}
		if bal := te.balance(b, ws.ID); bal != 0 { // balance() also checks ledger sum == balance
			b.Fatalf("final balance %d, want 0", bal)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*goroutines*each)/total.Seconds(), "attempts/s")
	b.ReportMetric(float64(b.N*start)/total.Seconds(), "deductions/s")
}

// BenchmarkDeductManyWorkspaces is the same load spread over 50 workspaces (one goroutine
// each, 200 credits, 200 deductions): no hot row, so commits can be grouped.
func BenchmarkDeductManyWorkspaces(b *testing.B) {
	te := newEnv(b, envOptions{noStripe: true})
	const goroutines, each = 50, 200
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		ids := make([]string, goroutines)
		for i := range ids {
			ids[i] = te.NewWorkspace(plans.Starter, each).ID
		}
		b.StartTimer()
		t0 := time.Now()
		results := make(chan deductResult, goroutines)
		for _, id := range ids {
			go func() { results <- runDeductions(te.mod.Credits(), id, 1, each) }()
		}
		var ok int64
		for range ids {
			r := <-results
			if r.err != nil {
				b.Fatal(r.err)
			}
			ok += r.ok
		}
		total += time.Since(t0)
		b.StopTimer()
		if ok != goroutines*each {
			b.Fatalf("succeeded %d, want %d", ok, goroutines*each)
		}
		for _, id := range ids {
			if bal := te.balance(b, id); bal != 0 {
				b.Fatalf("final balance %d, want 0", bal)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*goroutines*each)/total.Seconds(), "deductions/s")
}
