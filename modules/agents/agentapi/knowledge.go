package agentapi

import "context"

// Knowledge finds an agent's knowledge for a question; ingestion owns it and offers one
// (ingestion's Module.Passages).
type Knowledge interface {
	// Search returns at most k passages of the agent's READY and active documents whose
	// similarity to query is at least minSimilarity, most similar first.
	Search(ctx context.Context, workspaceID, agentID, query string, k int, minSimilarity float64) ([]Passage, error)
}

// Passage is one retrieved knowledge chunk.
type Passage struct {
	DocID      string
	Title      string
	ChunkIdx   int
	Content    string
	Similarity float64 // cosine similarity to the question
	URL        string  // the chunk's source page, when it has one
	// Retrieval evidence: the chunk's 1-based ranks in the vector and full-text legs of
	// the search (0: that leg did not rank it) and their fused score. A Knowledge that
	// has only one leg leaves the other rank 0.
	VectorRank, TextRank int
	Fused                float64
}
