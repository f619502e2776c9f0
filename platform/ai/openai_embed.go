package ai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"golang.org/x/sync/errgroup"
)

// Dimensions returns EmbeddingDimensions (1536).
func (o *OpenAI) Dimensions() int { return EmbeddingDimensions }

// Model returns the embedding model name.
func (o *OpenAI) Model() string { return o.cfg.EmbeddingModel }

// Embed embeds texts in batches of at most MaxEmbedBatch inputs, sending several batches
// at once, and returns the vectors in input order. Every request, retries included,
// passes through the instance's limiter (EmbedConcurrency requests in flight and EmbedRPS
// requests per second, shared by all callers). The first failing batch cancels the others
// and its error is returned. An empty text is an ErrInvalidRequest (OpenAI rejects it);
// a reply with the wrong count, index or dimension is an ErrBadResponse.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, newError(ErrInvalidRequest, 0, fmt.Errorf("input %d is empty", i))
		}
	}

	out := make([][]float32, len(texts))
	g, gctx := errgroup.WithContext(ctx)
	// The limiter bounds the process; this bound only avoids parking goroutines.
	g.SetLimit(o.cfg.EmbedConcurrency)
	for start := 0; start < len(texts); start += MaxEmbedBatch {
		end := min(start+MaxEmbedBatch, len(texts))
		g.Go(func() error {
			vecs, err := o.embedBatch(gctx, texts[start:end])
			if err != nil {
				return err
			}
			copy(out[start:end], vecs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		// A batch cancelled by a sibling's failure reports context.Canceled; g.Wait
		// returns the first error, which is the real cause, unless the caller cancelled.
		if ctx.Err() != nil {
			return nil, contextError(ctx, ctx.Err())
		}
		return nil, err
	}
	return out, nil
}

func (o *OpenAI) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	params := openai.EmbeddingNewParams{
		Model:          o.cfg.EmbeddingModel,
		Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: batch},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
	}
	if strings.HasPrefix(o.cfg.EmbeddingModel, "text-embedding-3") {
		// text-embedding-3 models can shorten their vectors (3-large is 3072 natively);
		// older models reject the parameter.
		params.Dimensions = openai.Int(EmbeddingDimensions)
	}

	var vecs [][]float32
	err := o.retry.run(ctx, o.cfg.EmbeddingTimeout, o.embedLimits, func(ctx context.Context, res **http.Response) error {
		// Take the raw body and decode it with encoding/json straight into float32:
		// the SDK's reflective decoder costs about 0.6 ms per 1536-dim vector and
		// allocates a float64 copy we would convert anyway.
		var raw []byte
		if _, err := o.client.Embeddings.New(ctx, params, option.WithResponseInto(res), option.WithResponseBodyInto(&raw)); err != nil {
			return err
		}
		var body embeddingsResponse
		if err := json.Unmarshal(raw, &body); err != nil {
			return newError(ErrBadResponse, http.StatusOK, fmt.Errorf("decode embeddings: %w", err))
		}
		var err error
		if vecs, err = orderEmbeddings(body.Data, len(batch)); err != nil {
			return newError(ErrBadResponse, http.StatusOK, err)
		}
		return nil
	})
	return vecs, err
}

// embeddingsResponse is the part of the embeddings reply we use.
type embeddingsResponse struct {
	Data []embeddingData `json:"data"`
}

type embeddingData struct {
	Index     int       `json:"index"`
	Embedding []float32 `json:"embedding"`
}

// orderEmbeddings places each returned embedding at its index and checks that every input
// got exactly one vector of the expected dimension.
func orderEmbeddings(data []embeddingData, n int) ([][]float32, error) {
	if len(data) != n {
		return nil, fmt.Errorf("got %d embeddings for %d inputs", len(data), n)
	}
	out := make([][]float32, n)
	for _, d := range data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, fmt.Errorf("embedding index %d out of range or repeated", d.Index)
		}
		if len(d.Embedding) != EmbeddingDimensions {
			return nil, fmt.Errorf("embedding %d has %d dimensions, want %d", d.Index, len(d.Embedding), EmbeddingDimensions)
		}
		out[d.Index] = d.Embedding
	}
	return out, nil
}
