package ai_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
)

// sleepRecorder replaces the retry wait: it records the requested durations and returns
// at once, so tests check the wait without spending it.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) Waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.waits)
}

// newOpenAI returns a client of fake with cfg's other settings and a recorded sleep.
func newOpenAI(t *testing.T, fake *fakeopenai.Server, cfg ai.OpenAIConfig) (*ai.OpenAI, *sleepRecorder) {
	t.Helper()
	cfg.BaseURL = fake.URL()
	if cfg.APIKey == "" {
		cfg.APIKey = "sk-test"
	}
	o := ai.NewOpenAI(cfg)
	rec := &sleepRecorder{}
	ai.SetSleep(o, rec.sleep)
	return o, rec
}

// wantKind fails the test unless err is an *ai.Error of the given kind.
func wantKind(t *testing.T, err error, kind error) {
	t.Helper()
	_ = wantError(t, err, kind)
}

// wantError is wantKind for tests that go on to inspect the *ai.Error (Status, RetryAfter...).
func wantError(t *testing.T, err error, kind error) *ai.Error {
	t.Helper()
	var e *ai.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *ai.Error of kind %v", err, err, kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error kind = %v, want %v (error: %v)", e.Kind, kind, err)
	}
	return e
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("chunk number %d about topic %d", i, i%7)
	}
	return out
}

func TestEmbedBatchesAndKeepsOrder(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})
	in := texts(250)

	got, err := o.Embed(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}

	if n := fake.EmbeddingCalls(); n != 3 {
		t.Fatalf("EmbeddingCalls = %d, want 3", n)
	}
	var sizes []int
	for _, r := range fake.Requests() {
		sizes = append(sizes, len(r.Body["input"].([]any)))
		if r.Body["model"] != ai.DefaultEmbeddingModel || r.Body["encoding_format"] != "float" || r.Body["dimensions"] != float64(1536) {
			t.Errorf("request body = model %v, encoding_format %v, dimensions %v", r.Body["model"], r.Body["encoding_format"], r.Body["dimensions"])
		}
		if auth := r.Header.Get("Authorization"); auth != "Bearer sk-test" {
			t.Errorf("Authorization = %q", auth)
		}
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{50, 100, 100}) {
		t.Errorf("batch sizes = %v, want 50, 100, 100", sizes)
	}

	// The fake answers with the offline embedding of each text, so each vector must be
	// the offline embedding of the input at the same position.
	want, _ := ai.NewOffline().Embed(t.Context(), in)
	if len(got) != len(in) {
		t.Fatalf("got %d vectors for %d inputs", len(got), len(in))
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("vector %d is not the embedding of input %d", i, i)
		}
	}
}

func TestEmbedFixedVectors(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})
	vec := make([]float32, 1536)
	vec[7] = 1
	fake.SetEmbedding("refund policy", vec)

	got, err := o.Embed(t.Context(), []string{"other", "refund policy"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[1], vec) {
		t.Error("SetEmbedding vector not returned at index 1")
	}
	if slices.Equal(got[0], vec) {
		t.Error("fixed vector returned for another text")
	}
}

func TestEmbedEmptyInput(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})

	got, err := o.Embed(t.Context(), nil)
	if got != nil || err != nil {
		t.Errorf("Embed(nil) = %v, %v; want nil, nil", got, err)
	}
	_, err = o.Embed(t.Context(), []string{"fine", "  "})
	wantKind(t, err, ai.ErrInvalidRequest)
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests sent, want 0", n)
	}
}

func TestEmbedConcurrencyIsSharedByCalls(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetDelay(30 * time.Millisecond)
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{EmbedConcurrency: 2, EmbedRPS: -1})

	// Six single-input calls and one call of three batches share the limit of two.
	sizes := []int{1, 1, 1, 1, 1, 1, 201}
	var wg sync.WaitGroup
	errs := make(chan error, len(sizes))
	for _, n := range sizes {
		wg.Go(func() {
			_, err := o.Embed(t.Context(), texts(n))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.EmbeddingCalls(); n != 9 {
		t.Errorf("EmbeddingCalls = %d, want 9", n)
	}
	if m := fake.MaxInFlight(); m > 2 {
		t.Errorf("%d requests in flight at once, want at most 2", m)
	}
}

func TestEmbedWrongDimensionsIsBadResponse(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetEmbedding("short", []float32{1, 0, 0})
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})

	_, err := o.Embed(t.Context(), []string{"short"})
	wantKind(t, err, ai.ErrBadResponse)
	if n := fake.EmbeddingCalls(); n != 1 {
		t.Errorf("EmbeddingCalls = %d, want 1 (bad responses are not retried)", n)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.FailNext(1, http.StatusTooManyRequests, "2")
	o, rec := newOpenAI(t, fake, ai.OpenAIConfig{})

	if _, err := o.Embed(t.Context(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	if n := fake.EmbeddingCalls(); n != 2 {
		t.Errorf("EmbeddingCalls = %d, want 2", n)
	}
	if w := rec.Waits(); !slices.Equal(w, []time.Duration{2 * time.Second}) {
		t.Errorf("waits = %v, want [2s]", w)
	}
}

func TestRetryHonoursRetryAfterDate(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.FailNext(1, http.StatusTooManyRequests, time.Now().Add(10*time.Second).UTC().Format(http.TimeFormat))
	o, rec := newOpenAI(t, fake, ai.OpenAIConfig{})

	if _, err := o.Complete(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	// The date has a resolution of one second, and time passes before it is read; a
	// backoff wait would be under a second.
	w := rec.Waits()
	if len(w) != 1 || w[0] < 5*time.Second || w[0] > 10*time.Second {
		t.Errorf("waits = %v, want one wait of almost 10s", w)
	}
}

// TestRetryAfterRealWait checks the production sleep: the retry arrives no earlier than
// the Retry-After the server asked for (a lower bound, not a timing assertion).
func TestRetryAfterRealWait(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.FailNext(1, http.StatusTooManyRequests, "1")
	o := ai.NewOpenAI(ai.OpenAIConfig{BaseURL: fake.URL(), APIKey: "sk-test"})

	if _, err := o.Embed(t.Context(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].Time.Sub(reqs[0].Time); gap < 950*time.Millisecond {
		t.Errorf("retry came %v after the 429, want at least Retry-After 1s", gap)
	}
}

func TestRetryAfterLongerThanMaxWaitFailsAtOnce(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.FailNext(1, http.StatusTooManyRequests, "120")
	o, rec := newOpenAI(t, fake, ai.OpenAIConfig{MaxRetryWait: 10 * time.Second})

	_, err := o.Embed(t.Context(), []string{"hello"})
	e := wantError(t, err, ai.ErrRateLimited)
	if e.Status != http.StatusTooManyRequests || e.RetryAfter != 120*time.Second {
		t.Errorf("Status, RetryAfter = %d, %v; want 429, 2m0s", e.Status, e.RetryAfter)
	}
	if !ai.IsRetryable(err) {
		t.Error("IsRetryable = false for a rate limit")
	}
	if n, w := fake.EmbeddingCalls(), rec.Waits(); n != 1 || len(w) != 0 {
		t.Errorf("calls, waits = %d, %v; want 1, none", n, w)
	}
}

func TestRetryStopsAtCallerDeadline(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.FailNext(1, http.StatusTooManyRequests, "30")
	o, rec := newOpenAI(t, fake, ai.OpenAIConfig{MaxRetryWait: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	_, err := o.Embed(ctx, []string{"hello"})
	wantKind(t, err, ai.ErrRateLimited)
	if w := rec.Waits(); len(w) != 0 {
		t.Errorf("waited %v although the deadline comes first", w)
	}
}

func TestServerErrorsExhaustRetries(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.FailNext(10, http.StatusInternalServerError, "")
	o, rec := newOpenAI(t, fake, ai.OpenAIConfig{RetryBaseDelay: 100 * time.Millisecond})

	_, err := o.Complete(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "hi"}}})
	e := wantError(t, err, ai.ErrUnavailable)
	if e.Status != http.StatusInternalServerError {
		t.Errorf("Status = %d, want 500", e.Status)
	}
	if n := len(fake.Requests()); n != 4 {
		t.Errorf("%d attempts, want 4 (default)", n)
	}
	// Exponential backoff with equal jitter: wait n lies in [base·2ⁿ/2, base·2ⁿ].
	w := rec.Waits()
	if len(w) != 3 {
		t.Fatalf("waits = %v, want 3", w)
	}
	for i, d := range w {
		hi := 100 * time.Millisecond << i
		if d < hi/2 || d > hi {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, d, hi/2, hi)
		}
	}
}

func TestMaxRetriesConfigurable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ maxRetries, attempts int }{{-1, 1}, {1, 2}, {5, 6}} {
		fake := fakeopenai.New(t)
		fake.FailNext(10, http.StatusBadGateway, "0")
		o, _ := newOpenAI(t, fake, ai.OpenAIConfig{MaxRetries: tt.maxRetries})
		_, err := o.Embed(t.Context(), []string{"x"})
		wantKind(t, err, ai.ErrUnavailable)
		if n := fake.EmbeddingCalls(); n != tt.attempts {
			t.Errorf("MaxRetries %d: %d attempts, want %d", tt.maxRetries, n, tt.attempts)
		}
	}
}

func TestConnectionErrorIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	o := ai.NewOpenAI(ai.OpenAIConfig{BaseURL: "http://" + addr + "/v1", MaxRetries: 2})
	rec := &sleepRecorder{}
	ai.SetSleep(o, rec.sleep)

	_, err = o.Embed(t.Context(), []string{"x"})
	wantKind(t, err, ai.ErrUnavailable)
	if w := rec.Waits(); len(w) != 2 {
		t.Errorf("waits = %v, want 2 retries", w)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		kind   error
	}{
		{http.StatusBadRequest, ai.ErrInvalidRequest},
		{http.StatusNotFound, ai.ErrInvalidRequest},
		{http.StatusUnauthorized, ai.ErrAuth},
		{http.StatusForbidden, ai.ErrAuth},
	}
	for _, tt := range tests {
		fake := fakeopenai.New(t)
		fake.FailNext(1, tt.status, "")
		o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})
		_, err := o.Complete(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "hi"}}})
		e := wantError(t, err, tt.kind)
		if e.Status != tt.status {
			t.Errorf("Status = %d, want %d", e.Status, tt.status)
		}
		if n := len(fake.Requests()); n != 1 {
			t.Errorf("status %d: %d attempts, want 1", tt.status, n)
		}
	}
}

func TestWrongAPIKeyIsAuthError(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetAPIKey("sk-right")
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{APIKey: "sk-wrong"})

	_, err := o.Embed(t.Context(), []string{"x"})
	wantKind(t, err, ai.ErrAuth)
	if ai.IsRetryable(err) {
		t.Error("auth error is retryable")
	}
}

func TestMalformedResponseIsBadResponse(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetMalformed(true)
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})
	req := ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "hi"}}}

	_, err := o.Embed(t.Context(), []string{"x"})
	wantKind(t, err, ai.ErrBadResponse)
	_, err = o.Complete(t.Context(), req)
	wantKind(t, err, ai.ErrBadResponse)
	_, err = o.Stream(t.Context(), req, func(string) error { return nil })
	wantKind(t, err, ai.ErrBadResponse)
	if n := len(fake.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 (bad responses are not retried)", n)
	}
}

func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetDelay(10 * time.Second)
	o, rec := newOpenAI(t, fake, ai.OpenAIConfig{CompletionTimeout: 100 * time.Millisecond, EmbeddingTimeout: 100 * time.Millisecond})
	req := ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "hi"}}}

	_, err := o.Complete(t.Context(), req)
	wantKind(t, err, ai.ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is(err, context.DeadlineExceeded) = false")
	}
	_, err = o.Stream(t.Context(), req, func(string) error { return nil })
	wantKind(t, err, ai.ErrTimeout)
	_, err = o.Embed(t.Context(), []string{"x"})
	wantKind(t, err, ai.ErrTimeout)
	// Timed-out attempts are not retried (the recorder sees every wait before a retry).
	if w := rec.Waits(); len(w) != 0 {
		t.Errorf("waits = %v, want none", w)
	}
}

func TestCallerDeadlineIsTimeoutAndCancelIsCanceled(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetDelay(10 * time.Second)
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})
	req := ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "hi"}}}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := o.Complete(ctx, req)
	wantKind(t, err, ai.ErrTimeout)

	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = o.Embed(ctx, []string{"x"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	var e *ai.Error
	if errors.As(err, &e) {
		t.Errorf("cancellation reported as *ai.Error %v", e)
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetChatReply("Refunds take 5 business days.")
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})

	resp, err := o.Complete(t.Context(), ai.ChatRequest{
		Messages: []ai.ChatMessage{
			{Role: ai.RoleSystem, Content: "You are Axon."},
			{Role: ai.RoleUser, Content: "How long do refunds take?"},
			{Role: ai.RoleAssistant, Content: "Let me check."},
			{Role: ai.RoleUser, Content: "Thanks"},
		},
		Temperature: 0.3,
		MaxTokens:   1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "Refunds take 5 business days." || resp.PromptTokens == 0 || resp.CompletionTokens != 5 {
		t.Errorf("response = %+v", resp)
	}
	reqs := fake.ChatRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d chat requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Model != "gpt-4o" || r.Temperature == nil || *r.Temperature != 0.3 || r.MaxTokens != 1024 || r.Stream {
		t.Errorf("request = %+v", r)
	}
	var roles []string
	for _, m := range r.Messages {
		roles = append(roles, m.Role)
	}
	if !slices.Equal(roles, []string{"system", "user", "assistant", "user"}) || r.Messages[1].Content != "How long do refunds take?" {
		t.Errorf("messages = %+v", r.Messages)
	}
}

func TestCompleteValidatesRequest(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})

	_, err := o.Complete(t.Context(), ai.ChatRequest{})
	wantKind(t, err, ai.ErrInvalidRequest)
	_, err = o.Complete(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{{Role: "tool", Content: "x"}}})
	wantKind(t, err, ai.ErrInvalidRequest)
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests sent, want 0", n)
	}
}

func TestStreamDeliversDeltasInOrder(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	reply := "Open Settings, then Security, and choose Reset password."
	fake.SetChatReply(reply)
	// A 503 before the stream starts is retried; the caller sees the reply once.
	fake.FailNext(1, http.StatusServiceUnavailable, "0")
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{ChatModel: "gpt-4o-2024-08-06"})

	var deltas []string
	resp, err := o.Stream(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "reset password?"}}},
		func(d string) error {
			deltas = append(deltas, d)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Open", " Settings,", " then", " Security,", " and", " choose", " Reset", " password."}
	if !slices.Equal(deltas, want) {
		t.Errorf("deltas = %q, want %q", deltas, want)
	}
	if resp.Content != reply || resp.CompletionTokens != 8 || resp.PromptTokens != 2 {
		t.Errorf("response = %+v", resp)
	}
	reqs := fake.Requests()
	last := reqs[len(reqs)-1].Body
	if last["stream"] != true || last["model"] != "gpt-4o-2024-08-06" {
		t.Errorf("stream request body = %v", last)
	}
	if opts, _ := last["stream_options"].(map[string]any); opts["include_usage"] != true {
		t.Errorf("stream_options = %v", last["stream_options"])
	}
}

func TestStreamCallbackErrorStops(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetChatReply("one two three four")
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})
	errStop := errors.New("client went away")

	n := 0
	_, err := o.Stream(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "count"}}},
		func(string) error {
			n++
			if n == 2 {
				return errStop
			}
			return nil
		})
	if err != errStop {
		t.Errorf("error = %v, want the callback's error unchanged", err)
	}
	if n != 2 || len(fake.Requests()) != 1 {
		t.Errorf("callback calls, requests = %d, %d; want 2, 1", n, len(fake.Requests()))
	}
}

func TestCompleteJSON(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetJSONReply(`{"factual": 0.9, "intent": 0.8, "emotional": 0.7}`)
	fake.SetChatReply("not used in JSON mode")
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})

	var scores struct{ Factual, Intent, Emotional float64 }
	err := o.CompleteJSON(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{
		{Role: ai.RoleSystem, Content: "Rate the answer."},
		{Role: ai.RoleUser, Content: "Q: hours? A: 9-5"},
	}}, &scores)
	if err != nil {
		t.Fatal(err)
	}
	if scores.Factual != 0.9 || scores.Intent != 0.8 || scores.Emotional != 0.7 {
		t.Errorf("scores = %+v", scores)
	}
	r := fake.ChatRequests()[0]
	if !r.JSONMode() || r.Model != "gpt-4o-mini" || *r.Temperature != 0 {
		t.Errorf("request = model %q, JSON mode %v, temperature %v", r.Model, r.JSONMode(), *r.Temperature)
	}
	// OpenAI rejects JSON mode unless the prompt mentions JSON.
	if !strings.Contains(strings.ToLower(r.Messages[0].Content), "json") {
		t.Errorf("no message mentions JSON: %+v", r.Messages)
	}
}

func TestCompleteJSONInvalidReply(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.SetChatHandler(func(req fakeopenai.ChatCompletionRequest) string { return "Sure! Here are the scores: great" })
	o, _ := newOpenAI(t, fake, ai.OpenAIConfig{})

	var out map[string]float64
	err := o.CompleteJSON(t.Context(), ai.ChatRequest{Messages: []ai.ChatMessage{{Role: ai.RoleUser, Content: "json please"}}}, &out)
	wantKind(t, err, ai.ErrBadResponse)
}

// TestNonJSONErrorBody covers proxies that answer with an HTML error page: the status
// still decides the kind and the retries.
func TestNonJSONErrorBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
	}))
	t.Cleanup(srv.Close)
	o := ai.NewOpenAI(ai.OpenAIConfig{BaseURL: srv.URL + "/v1"})
	ai.SetSleep(o, (&sleepRecorder{}).sleep)

	_, err := o.Embed(t.Context(), []string{"x"})
	e := wantError(t, err, ai.ErrUnavailable)
	mu.Lock()
	defer mu.Unlock()
	if e.Status != http.StatusBadGateway || calls != 4 {
		t.Errorf("Status, calls = %d, %d; want 502, 4", e.Status, calls)
	}
}
