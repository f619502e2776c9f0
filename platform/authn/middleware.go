package authn

import (
	"errors"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/apperr"
)

// principalKey is where the principal lives in echo's context as well.
const principalKey = "axon.principal"

// Middleware requires a valid access token: 401 MISSING_TOKEN without one, 401 INVALID_TOKEN
// for a tampered, expired, foreign or alg:none token. allowQuery also accepts
// ?access_token= (for EventSource clients, which cannot set headers).
func Middleware(iss *Issuer, allowQuery bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
			if tok == "" && allowQuery {
				tok = c.QueryParam("access_token")
			}
			if tok == "" {
				return apperr.E(apperr.MissingToken, "Authentication required")
			}
			p, err := iss.Verify(tok)
			if err != nil {
				msg := "Invalid token"
				if errors.Is(err, ErrExpiredToken) {
					msg = "Token expired"
				}
				return apperr.E(apperr.InvalidToken, msg)
			}
			c.Set(principalKey, p)
			c.SetRequest(c.Request().WithContext(WithPrincipal(c.Request().Context(), p)))
			return next(c)
		}
	}
}

// RequireRole answers 403 FORBIDDEN unless the caller's role is at least min.
func RequireRole(min Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := Get(c)
			if !ok {
				return apperr.E(apperr.MissingToken, "Authentication required")
			}
			if !p.Role.AtLeast(min) {
				return apperr.E(apperr.Forbidden, "This action requires the "+string(min)+" role")
			}
			return next(c)
		}
	}
}

// Get returns the principal that Middleware stored.
func Get(c echo.Context) (Principal, bool) {
	p, ok := c.Get(principalKey).(Principal)
	return p, ok
}

// MustGet returns the principal or panics; use only behind Middleware.
func MustGet(c echo.Context) Principal {
	p, ok := Get(c)
	if !ok {
		panic("authn: route without authn.Middleware")
	}
	return p
}

func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
