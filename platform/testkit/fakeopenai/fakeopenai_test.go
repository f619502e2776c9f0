package fakeopenai_test

import (
	"bufio"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/axonhq/axon/platform/ai"
	"github.com/axonhq/axon/platform/testkit/fakeopenai"
)

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func decode(t *testing.T, res *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestURLEndsWithV1(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	if !strings.HasSuffix(s.URL(), "/v1") || !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %q", s.URL())
	}
}

func TestEmbeddingsWireFormat(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	res := post(t, s.URL()+"/embeddings", `{"model":"text-embedding-3-small","input":["refund policy","shipping times"]}`)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var body struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	decode(t, res, &body)
	if body.Object != "list" || body.Model != "text-embedding-3-small" || len(body.Data) != 2 || body.Usage.PromptTokens != 4 || body.Usage.TotalTokens != 4 {
		t.Fatalf("body = %+v", body)
	}
	want, _ := ai.NewOffline().Embed(t.Context(), []string{"refund policy", "shipping times"})
	for i, d := range body.Data {
		if d.Object != "embedding" || d.Index != i || !slices.Equal(d.Embedding, want[i]) {
			t.Errorf("data[%d] = object %q index %d, offline embedding %v", i, d.Object, d.Index, slices.Equal(d.Embedding, want[i]))
		}
	}
	if n := s.EmbeddingCalls(); n != 1 {
		t.Errorf("EmbeddingCalls = %d", n)
	}
	if in := s.EmbeddedInputs(); !slices.Equal(in, []string{"refund policy", "shipping times"}) {
		t.Errorf("EmbeddedInputs = %q", in)
	}
}

func TestEmbeddingsDimensionsAndBase64ThroughSDK(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	client := openai.NewClient(option.WithBaseURL(s.URL()), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))

	resp, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model:          "text-embedding-3-small",
		Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello world"}},
		Dimensions:     openai.Int(256),
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := resp.Data[0].Embedding
	var norm float64
	for _, f := range v {
		norm += f * f
	}
	if len(v) != 256 || math.Abs(norm-1) > 1e-4 {
		t.Errorf("len %d, norm² %v; want 256, 1", len(v), norm)
	}
	if got := s.Requests()[0].Body["encoding_format"]; got != "base64" {
		t.Errorf("recorded encoding_format = %v", got)
	}
}

func TestEmbeddingsRejectsEmptyInput(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	res := post(t, s.URL()+"/embeddings", `{"model":"text-embedding-3-small","input":["ok",""]}`)
	var body struct {
		Error struct {
			Message, Type string
			Param         *string
			Code          *string
		} `json:"error"`
	}
	decode(t, res, &body)
	if res.StatusCode != http.StatusBadRequest || body.Error.Type != "invalid_request_error" || body.Error.Param == nil || *body.Error.Param != "input" || body.Error.Code != nil {
		t.Errorf("status %d, error %+v", res.StatusCode, body.Error)
	}
}

func TestChatCompletionWireFormat(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	s.SetChatReply("Hello there.")
	res := post(t, s.URL()+"/chat/completions", `{"model":"gpt-4o","temperature":0.3,"max_tokens":50,
		"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"you"}]}]}`)
	var body struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens, CompletionTokens, TotalTokens int
		} `json:"usage"`
	}
	decode(t, res, &body)
	if body.Object != "chat.completion" || !strings.HasPrefix(body.ID, "chatcmpl-") || body.Model != "gpt-4o" || len(body.Choices) != 1 {
		t.Fatalf("body = %+v", body)
	}
	c := body.Choices[0]
	if c.Message.Role != "assistant" || c.Message.Content != "Hello there." || c.FinishReason != "stop" {
		t.Errorf("choice = %+v", c)
	}
	reqs := s.ChatRequests()
	if len(reqs) != 1 || reqs[0].Messages[1].Content != "Hi you" || *reqs[0].Temperature != 0.3 || reqs[0].MaxTokens != 50 {
		t.Errorf("recorded = %+v", reqs)
	}
}

func TestChatStreamFrames(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	s.SetChatReply("one two three")
	res := post(t, s.URL()+"/chat/completions", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count"}]}`)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}

	var frames []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				t.Fatalf("line %q is not a data frame", line)
			}
			frames = append(frames, data)
		}
	}
	if frames[len(frames)-1] != "[DONE]" {
		t.Fatalf("last frame = %q", frames[len(frames)-1])
	}
	var text strings.Builder
	var usage map[string]int
	for _, f := range frames[:len(frames)-1] {
		var chunk struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Usage map[string]int `json:"usage"`
		}
		if err := json.Unmarshal([]byte(f), &chunk); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		if chunk.Object != "chat.completion.chunk" {
			t.Errorf("object = %q", chunk.Object)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
		if chunk.Usage != nil {
			usage = chunk.Usage
		}
	}
	if text.String() != "one two three" || usage["completion_tokens"] != 3 || usage["prompt_tokens"] != 1 {
		t.Errorf("text %q, usage %v", text.String(), usage)
	}
}

func TestFailNextQueueAndErrorShape(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	s.FailNext(1, http.StatusTooManyRequests, "1")
	s.FailNext(2, http.StatusInternalServerError, "")

	var statuses []int
	for range 4 {
		res := post(t, s.URL()+"/embeddings", `{"model":"m","input":"x"}`)
		statuses = append(statuses, res.StatusCode)
		if res.StatusCode == http.StatusTooManyRequests {
			var body struct {
				Error struct{ Message, Type, Code string } `json:"error"`
			}
			decode(t, res, &body)
			if res.Header.Get("Retry-After") != "1" || body.Error.Code != "rate_limit_exceeded" || body.Error.Type != "requests" || body.Error.Message == "" {
				t.Errorf("429: Retry-After %q, error %+v", res.Header.Get("Retry-After"), body.Error)
			}
		}
	}
	if !slices.Equal(statuses, []int{429, 500, 500, 200}) {
		t.Errorf("statuses = %v", statuses)
	}
	if n, in := s.EmbeddingCalls(), s.EmbeddedInputs(); n != 4 || len(in) != 1 {
		t.Errorf("EmbeddingCalls %d, EmbeddedInputs %q; want 4 and one input", n, in)
	}
}

func TestUnknownPathAndAPIKey(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	if res := post(t, s.URL()+"/completions", `{}`); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: status %d", res.StatusCode)
	}
	s.SetAPIKey("sk-other")
	if res := post(t, s.URL()+"/embeddings", `{"model":"m","input":"x"}`); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: status %d", res.StatusCode)
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("%d requests recorded, want 2", n)
	}
}

func TestDefaultRepliesComeFromOfflineProvider(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	client := openai.NewClient(option.WithBaseURL(s.URL()), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	system := "Answer from the knowledge.\n" + ai.KnowledgeMarker + "\n[1] Refunds are issued within 5 business days.\n"

	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage("How long do refunds take?")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Refunds are issued within 5 business days." {
		t.Errorf("reply = %q", got)
	}

	s.SetChatHandler(func(req fakeopenai.ChatCompletionRequest) string {
		if req.JSONMode() {
			return `{"custom":true}`
		}
		return "handled"
	})
	resp, err = client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("json")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONObject: &openai.ResponseFormatJSONObjectParam{},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != `{"custom":true}` {
		t.Errorf("JSON reply = %q", got)
	}
}

func TestDefaultJSONReplyIsOfflineScores(t *testing.T) {
	t.Parallel()
	s := fakeopenai.New(t)
	res := post(t, s.URL()+"/chat/completions", `{"model":"gpt-4o-mini","response_format":{"type":"json_object"},
		"messages":[{"role":"system","content":"Score in JSON."},{"role":"user","content":"Where is my parcel?"}]}`)
	var body struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	decode(t, res, &body)
	var scores map[string]float64
	if err := json.Unmarshal([]byte(body.Choices[0].Message.Content), &scores); err != nil {
		t.Fatalf("content %q: %v", body.Choices[0].Message.Content, err)
	}
	if _, ok := scores["factual"]; !ok || scores["intent"] != 0.8 {
		t.Errorf("scores = %v", scores)
	}
}
