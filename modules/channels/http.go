package channels

import (
	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
)

type handlers struct{ svc *Service }

func notYet(echo.Context) error { return apperr.E(apperr.Internal, "not implemented yet") }

func (h *handlers) listConversations(c echo.Context) error { return notYet(c) }
func (h *handlers) getConversation(c echo.Context) error   { return notYet(c) }
func (h *handlers) patchConversation(c echo.Context) error { return notYet(c) }
func (h *handlers) postMessage(c echo.Context) error       { return notYet(c) }
func (h *handlers) postHandoff(c echo.Context) error       { return notYet(c) }
func (h *handlers) listHandoffs(c echo.Context) error      { return notYet(c) }
func (h *handlers) patchHandoff(c echo.Context) error      { return notYet(c) }
