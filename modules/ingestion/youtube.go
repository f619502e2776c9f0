package ingestion

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var videoIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)

// youTubeVideoID extracts the video id from the usual YouTube URL shapes:
// youtube.com/watch?v=ID, youtu.be/ID, youtube.com/shorts/ID, /embed/ID, /live/ID, /v/ID
// (www., m., music. and youtube-nocookie.com included).
func youTubeVideoID(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	host := strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
	host = strings.TrimPrefix(strings.TrimPrefix(host, "m."), "music.")
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	var id string
	switch host {
	case "youtu.be":
		id = segs[0]
	case "youtube.com", "youtube-nocookie.com":
		switch {
		case len(segs) == 1 && segs[0] == "watch":
			id = u.Query().Get("v")
		case len(segs) >= 2 && (segs[0] == "shorts" || segs[0] == "embed" || segs[0] == "live" || segs[0] == "v"):
			id = segs[1]
		}
	}
	if !videoIDRe.MatchString(id) {
		return "", false
	}
	return id, true
}

// transcriptClient fetches YouTube transcripts from the timedtext endpoint under a base
// URL (YOUTUBE_TRANSCRIPT_BASE_URL, https://www.youtube.com by default). The base URL is
// operator configuration and the video id is validated, so these requests do not go
// through the private-address policy of user URLs.
type transcriptClient struct {
	base   string
	client *http.Client
}

func newTranscriptClient(base string) *transcriptClient {
	if base == "" {
		base = "https://www.youtube.com"
	}
	return &transcriptClient{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: fetchTimeout}}
}

// fetch returns the English transcript of a video as one inline block per caption, each
// with the video URL at that moment as its url metadata.
func (t *transcriptClient) fetch(ctx context.Context, videoID string) ([]block, error) {
	u := t.base + "/api/timedtext?v=" + url.QueryEscape(videoID) + "&lang=en"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("transcript request: %w", err)
	}
	req.Header.Set("User-Agent", userAgent)
	res, err := t.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, transient(err, "Could not reach YouTube for the transcript")
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotFound:
		return nil, permanentf("No English transcript is available for this video")
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return nil, transient(nil, "YouTube answered %s for the transcript", res.Status)
	case res.StatusCode >= 300:
		return nil, permanentf("YouTube answered %s for the transcript", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, fetchMaxBytes+1))
	if err != nil {
		return nil, transient(err, "Reading the transcript failed")
	}
	if len(body) > fetchMaxBytes {
		return nil, permanentf("The transcript is larger than %d MB", fetchMaxBytes>>20)
	}
	caps, err := parseTimedText(body)
	if err != nil {
		return nil, &ingestError{msg: "The transcript could not be read", permanent: true, cause: err}
	}
	if len(caps) == 0 {
		return nil, permanentf("No English transcript is available for this video")
	}
	watch := "https://www.youtube.com/watch?v=" + videoID
	out := make([]block, 0, len(caps))
	for _, c := range caps {
		out = append(out, block{Text: c.text, URL: watch + "&t=" + strconv.Itoa(int(c.start/time.Second)) + "s", Inline: true})
	}
	return out, nil
}

// caption is one timed line of a transcript.
type caption struct {
	start time.Duration
	text  string
}

// parseTimedText reads the timedtext XML formats: srv1 (<transcript><text start="1.2"
// dur="3">…</text>) and srv3 (<timedtext><body><p t="1200" d="3000">…<s>…</s></p>). Text is
// HTML-unescaped once more, because YouTube escapes entities twice.
func parseTimedText(data []byte) ([]caption, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	dec.Entity = xml.HTMLEntity
	var (
		out   []caption
		cur   *caption
		depth int
		buf   strings.Builder
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if cur != nil {
				depth++
				continue
			}
			if t.Name.Local == "text" || t.Name.Local == "p" {
				cur = &caption{}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "start":
						if f, err := strconv.ParseFloat(a.Value, 64); err == nil {
							cur.start = time.Duration(f * float64(time.Second))
						}
					case "t":
						if ms, err := strconv.ParseInt(a.Value, 10, 64); err == nil {
							cur.start = time.Duration(ms) * time.Millisecond
						}
					}
				}
				buf.Reset()
				depth = 0
			}
		case xml.EndElement:
			if cur == nil {
				continue
			}
			if depth > 0 {
				depth--
				continue
			}
			cur.text = strings.Join(strings.Fields(cleanText(html.UnescapeString(buf.String()))), " ")
			if cur.text != "" {
				out = append(out, *cur)
			}
			cur = nil
		case xml.CharData:
			if cur != nil {
				buf.Write(t)
			}
		}
	}
	return out, nil
}
