package authn

import (
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/web"
)

// verifiedCap bounds the tokens remembered by one Issuer (a few MB at most).
const verifiedCap = 20_000

// verified remembers access tokens that passed Verify until they expire, so that a client
// sending the same token on every request pays the signature check and the claims' JSON
// decoding once. A token is an immutable string whose principal cannot change, and access
// tokens have no revocation list, so a hit answers what Verify would answer; the expiry is
// checked on every hit with the issuer's clock and the same skew.
type verified struct {
	mu sync.Mutex
	m  map[string]verifiedEntry
}

type verifiedEntry struct {
	p   Principal
	exp time.Time
}

func (v *verified) get(token string, now time.Time) (Principal, bool, bool) {
	v.mu.Lock()
	e, ok := v.m[token]
	v.mu.Unlock()
	if !ok {
		return Principal{}, false, false
	}
	if now.After(e.exp.Add(tokenSkew)) {
		return Principal{}, true, false
	}
	return e.p, true, true
}

func (v *verified) put(token string, p Principal, exp time.Time, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]verifiedEntry{}
	}
	if len(v.m) >= verifiedCap {
		for k, e := range v.m {
			if now.After(e.exp.Add(tokenSkew)) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= verifiedCap*9/10 {
			clear(v.m) // all live: start over rather than scan on every put
		}
	}
	v.m[token] = verifiedEntry{p: p, exp: exp}
}

// UserPrelimit is the per-user limit of Authenticated (120/min) as a web.Prelimit: the
// server's global per-IP limit checks it together with the per-IP limit (one Redis round
// trip) when the request carries a valid access token in its Authorization header, and the
// chain's own per-user limit then records nothing again. A request with a valid access token
// counts against its user's limit on any route.
func UserPrelimit(iss *Issuer) web.Prelimit {
	return web.Prelimit{Name: "user", Limit: userLimit, Window: userWindow, Key: func(c echo.Context) string {
		tok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
		if tok == "" {
			return ""
		}
		p, err := iss.Verify(tok)
		if err != nil {
			return ""
		}
		return p.UserID
	}}
}
