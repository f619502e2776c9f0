package channels

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
	"github.com/axonhq/axon/platform/web"
)

// Channel configuration, agent links and integrations (openapi.json, tag "channels").
// No handler logs a request body: credentials travel in them.

type channelList struct {
	Items []Channel `json:"items"`
}

func (h *handlers) listChannels(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	items, err := h.svc.ListChannels(c.Request().Context(), ws)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, channelList{Items: items})
}

type putChannelIn struct {
	IsActive    *bool           `json:"isActive"`
	Credentials json.RawMessage `json:"credentials"`
}

func (h *handlers) putChannel(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	var in putChannelIn
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	creds, err := credentialsObject(in.Credentials)
	if err != nil {
		return err
	}
	ch, err := h.svc.PutChannel(c.Request().Context(), ws, c.Param("type"), ChannelInput{IsActive: in.IsActive, Credentials: creds})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ch)
}

// credentialsObject decodes the credentials member: absent or null is nil, an object is its
// fields, anything else is a 400.
func credentialsObject(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, apperr.ValidationFields(map[string]string{"credentials": "must be an object"})
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

type linkIn struct {
	IsActive *bool `json:"isActive"`
}

func (h *handlers) linkChannel(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	agentID, err := web.PathUUID(c, "agentId", "Agent")
	if err != nil {
		return err
	}
	var in linkIn
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	active := in.IsActive == nil || *in.IsActive // omitted: active
	ch, err := h.svc.LinkChannel(c.Request().Context(), ws, agentID, c.Param("type"), active)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ch)
}

func (h *handlers) unlinkChannel(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	agentID, err := web.PathUUID(c, "agentId", "Agent")
	if err != nil {
		return err
	}
	if err := h.svc.UnlinkChannel(c.Request().Context(), ws, agentID, c.Param("type")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type integrationOut struct {
	Kind       string `json:"kind"`
	Configured bool   `json:"configured"`
}

// putIntegration takes the credentials either at the top level ({subdomain, email,
// apiToken}) or inside "credentials".
func (h *handlers) putIntegration(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := web.Bind(c, &body); err != nil {
		return err
	}
	if inner, ok := body["credentials"]; ok {
		body = nil
		if err := json.Unmarshal(inner, &body); err != nil {
			return apperr.ValidationFields(map[string]string{"credentials": "must be an object"})
		}
	}
	creds := make(map[string]string, len(body))
	p := web.Problems{}
	for k, v := range body {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			p.Check(false, "credentials."+k, "must be a string")
			continue
		}
		creds[k] = s
	}
	if err := p.Err(); err != nil {
		return err
	}
	kind := strings.ToUpper(strings.TrimSpace(c.Param("kind")))
	if err := h.svc.SaveIntegration(c.Request().Context(), ws, kind, creds); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, integrationOut{Kind: kind, Configured: true})
}

type testChannelIn struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

func (h *handlers) testChannel(c echo.Context) error {
	ws, err := workspaceOf(c)
	if err != nil {
		return err
	}
	var in testChannelIn
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	res, err := h.svc.TestChannel(c.Request().Context(), ws, c.Param("type"), in.To, in.Text)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
