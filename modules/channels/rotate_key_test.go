package channels

import (
	"context"
	"strings"
	"testing"

	"github.com/axonhq/axon/platform/secretbox"
)

// Not parallel: RotateKeys walks every row of the shared test database, so it runs while no
// other test of the package writes sealed rows (parallel tests start after it).
func TestRotateKeys(t *testing.T) {
	ce := newCoreEnv(t, coreOptions{})
	ctx := context.Background()
	w := ce.NewWorkspace("STARTER", 100)
	for _, typ := range []string{"WHATSAPP", "SLACK", "EMAIL"} {
		if res := ce.Do(reqPut("/v1/channels/"+typ, w.Token, map[string]any{"isActive": true, "credentials": validCreds[typ]})); res.Status != 200 {
			t.Fatalf("%s: %d %s", typ, res.Status, res.Body)
		}
	}
	if err := ce.mod.svc.SaveIntegration(ctx, w.ID, DestZendesk, map[string]string{"subdomain": "acme", "email": "a@acme.test", "apiToken": "SEKRET-zd"}); err != nil {
		t.Fatal(err)
	}
	emailURL := func(box *secretbox.Box) string {
		t.Helper()
		svc := *ce.mod.svc
		svc.box = box
		chs, err := svc.ListChannels(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chs {
			if c.Type == "EMAIL" {
				return *c.WebhookURL
			}
		}
		t.Fatal("no EMAIL channel")
		return ""
	}
	oldBox, _ := secretbox.New(testBoxKey, nil)
	beforeURL := emailURL(oldBox)

	newKey := []byte("fedcba9876543210fedcba9876543210")
	rotating, err := secretbox.New(newKey, testBoxKey)
	if err != nil {
		t.Fatal(err)
	}
	stale := func(table string) int {
		return ce.count(t, `SELECT count(*) FROM `+table+` WHERE key_version IS NOT NULL AND key_version <> $1`, rotating.CurrentVersion())
	}
	wantCh, wantIn := stale("channels"), stale("integrations")
	if wantCh < 3 || wantIn < 1 {
		t.Fatalf("stale rows before: %d channels, %d integrations", wantCh, wantIn)
	}

	// Batches of 2: several transactions, each resumable.
	r, err := RotateKeys(ctx, ce.DB, rotating, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Channels != wantCh || r.Integrations != wantIn || r.Failed != 0 {
		t.Fatalf("rotation %+v, want %d channels and %d integrations", r, wantCh, wantIn)
	}
	if stale("channels")+stale("integrations") != 0 {
		t.Fatal("rows left under the old key")
	}
	// Everything opens with the new key alone; the EMAIL inbound key did not change.
	newOnly, _ := secretbox.New(newKey, nil)
	if got := emailURL(newOnly); got != beforeURL {
		t.Fatalf("email webhook URL %q after rotation, %q before", got, beforeURL)
	}
	svc := *ce.mod.svc
	svc.box = newOnly
	var zd zendeskCreds
	if err := svc.integration(ctx, w.ID, DestZendesk, &zd); err != nil || zd.APIToken != "SEKRET-zd" {
		t.Fatalf("zendesk after rotation %+v (%v)", zd, err)
	}
	chs, err := svc.ListChannels(ctx, w.ID)
	if err != nil || len(chs) != 3 {
		t.Fatalf("list after rotation: %v %v", chs, err)
	}

	// A re-run changes nothing.
	if r, err := RotateKeys(ctx, ce.DB, rotating, 2); err != nil || r.Channels+r.Integrations+r.Failed != 0 {
		t.Fatalf("re-run: %+v %v", r, err)
	}

	// A row under a key neither opens is reported, left alone, and does not stop the rest.
	if _, err := ce.DB.Exec(`UPDATE channels SET key_version = 7 WHERE workspace_id = $1 AND type = 'SLACK'`, w.ID); err != nil {
		t.Fatal(err)
	}
	r, err = RotateKeys(ctx, ce.DB, rotating, 2)
	if err == nil || r.Failed != 1 || !strings.Contains(err.Error(), "1 rows could not be decrypted") {
		t.Fatalf("unknown key: %+v %v", r, err)
	}
	if strings.Contains(err.Error(), "SEKRET") {
		t.Fatal("error carries a secret")
	}
	if _, err := ce.DB.Exec(`DELETE FROM channels WHERE workspace_id = $1 AND type = 'SLACK'`, w.ID); err != nil {
		t.Fatal(err)
	}
}
