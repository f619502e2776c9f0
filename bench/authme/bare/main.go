// Command bare is the baseline of the auth/me benchmark: echo with no middleware answering a
// fixed JSON body of the same size class.
package main

import (
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
)

func main() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	body := map[string]any{
		"user":       map[string]any{"id": "01a21753-778d-7614-86d2-6f78e13a61dd", "email": "bench@example.com", "name": "Bench"},
		"workspaces": []map[string]any{{"id": "01a21753-778f-73f7-9fcf-fbb44d3e39a0", "name": "Bench's Workspace", "slug": "bench", "role": "OWNER"}},
	}
	e.GET("/ping", func(c echo.Context) error { return c.JSON(http.StatusOK, body) })
	if err := e.Start(":" + os.Getenv("PORT")); err != nil && err != http.ErrServerClosed {
		os.Exit(1)
	}
}
