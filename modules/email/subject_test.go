package email

import (
	"strings"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/testkit/apitest"
)

// Subjects are plain text: what the user typed goes out unescaped (the body stays escaped),
// and a line break in the data cannot start a second header line.
//
// Not parallel: it starts a River worker, which would also take the e-mails other tests of
// this package enqueue (they share the process's database) and send them through this
// test's fake.
func TestSubjectIsPlainText(t *testing.T) {
	fake := &fakeResend{}
	env, mod := setup(t, fake)
	name := "Alice's <Workspace> & \"Co\"\r\nBcc: x@example.com"
	want := `You're invited to join Alice's <Workspace> & "Co" Bcc: x@example.com on Axon`
	id := enqueue(t, env, mod, Message{
		To: "new@example.com", Template: TemplateInvitation,
		Data: map[string]any{"WorkspaceName": name, "InviterName": "Bob", "Role": "MEMBER"},
	})
	var stored string
	if err := env.DB.Get(&stored, `SELECT subject FROM emails WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if stored != want {
		t.Errorf("stored subject %q, want %q", stored, want)
	}
	env.StartWorker()
	apitest.Eventually(t, 10*time.Second, func() bool { st, _ := status(t, env, id); return st == "SENT" }, "email SENT")
	fake.mu.Lock()
	req := fake.requests[0]
	fake.mu.Unlock()
	if req["subject"] != want {
		t.Errorf("sent subject %q, want %q", req["subject"], want)
	}
	if html, _ := req["html"].(string); !strings.Contains(html, "Alice&#39;s &lt;Workspace&gt; &amp;") {
		t.Errorf("body not HTML-escaped: %s", html)
	}
}
