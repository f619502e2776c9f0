package channels

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/axonhq/axon/platform/testkit/apitest"
)

// noKnowledge stands in for ingestion in the channels tests: agents without documents.
type noKnowledge struct{}

func (noKnowledge) DocCounts(context.Context, string, []string) (map[string]int, error) {
	return map[string]int{}, nil
}

func (noKnowledge) StatusCounts(context.Context, string, string) (map[string]int, int, error) {
	return map[string]int{}, 0, nil
}

func (noKnowledge) RemoveAgentKnowledge(context.Context, *sqlx.Tx, string, string) error { return nil }

// The agents routes show and delete an agent's channel links through channels' link
// contract (ChannelCounts, AgentChannels, UnlinkAgent): counts per agent in the list, the
// channels of one agent ordered by type with isActive = channel and link active, and the
// links (not the channels) gone with the agent. Another workspace's links are untouched.
func TestAgentChannelLinks(t *testing.T) {
	t.Parallel()
	ce := newCoreEnv(t, coreOptions{})
	ws, other := ce.NewWorkspace("PRO", 100), ce.NewWorkspace("PRO", 100)
	linked, bare, stranger := ce.agent(t, ws, nil), ce.agent(t, ws, nil), ce.agent(t, other, nil)
	link := func(ws, agentID, typ string, channelOn, linkOn bool) string {
		id := uuid.NewString()
		if _, err := ce.DB.Exec(`INSERT INTO channels (id, workspace_id, type, is_active) VALUES ($1, $2, $3, $4)`, id, ws, typ, channelOn); err != nil {
			t.Fatal(err)
		}
		if _, err := ce.DB.Exec(`INSERT INTO agent_channels (agent_id, channel_id, is_active) VALUES ($1, $2, $3)`, agentID, id, linkOn); err != nil {
			t.Fatal(err)
		}
		return id
	}
	web := link(ws.ID, linked, "WEB", true, true)
	tg := link(ws.ID, linked, "TELEGRAM", true, false)
	link(other.ID, stranger, "WEB", true, true)

	var list struct{ Items []map[string]any }
	ce.Get("/v1/agents", ws.Token).JSON(t, &list)
	counts := map[string]any{}
	for _, it := range list.Items {
		counts[it["id"].(string)] = it["channelCount"]
	}
	if counts[linked] != 2.0 || counts[bare] != 0.0 || len(counts) != 2 {
		t.Errorf("channel counts = %v", counts)
	}
	b, _ := json.Marshal(ce.Get("/v1/agents/"+linked, ws.Token).Map(t)["channels"])
	if want := `[{"id":"` + tg + `","isActive":false,"type":"TELEGRAM"},{"id":"` + web + `","isActive":true,"type":"WEB"}]`; string(b) != want {
		t.Errorf("channels = %s, want %s", b, want)
	}

	if res := ce.Do(apitest.Req{Method: http.MethodDelete, Path: "/v1/agents/" + linked, Token: ws.Token}); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	if n := ce.count(t, `SELECT count(*) FROM agent_channels WHERE agent_id = $1`, linked); n != 0 {
		t.Errorf("%d links left", n)
	}
	if n := ce.count(t, `SELECT count(*) FROM channels WHERE id = ANY($1::uuid[])`, "{"+web+","+tg+"}"); n != 2 {
		t.Errorf("%d of 2 channels left", n)
	}
	if n := ce.count(t, `SELECT count(*) FROM agent_channels WHERE agent_id = $1`, stranger); n != 1 {
		t.Errorf("the other workspace's link: %d", n)
	}
}
