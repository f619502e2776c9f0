package channels

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
)

// Channel credentials: which fields each channel type takes and how they are checked.
// Error messages name the field and never echo a value (the value may be a secret).

// credentialField is one credential of a channel type.
type credentialField struct {
	name string
	// check returns "" when v is acceptable, else the problem (without the value).
	check func(v string) string
}

var (
	digitsRe        = regexp.MustCompile(`^[0-9]{1,32}$`)
	telegramTokenRe = regexp.MustCompile(`^[0-9]{3,20}:[A-Za-z0-9_-]{20,100}$`)
	twilioSidRe     = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	e164Re          = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// dnsLabelRe is one DNS label: a Zendesk subdomain or a Freshdesk account name.
	dnsLabelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// maxCredentialLen bounds every credential value (the longest real one, a Meta long-lived
// token, is about 250 characters).
const maxCredentialLen = 1024

func anyText(string) string { return "" }

func matches(re *regexp.Regexp, want string) func(string) string {
	return func(v string) string {
		if !re.MatchString(v) {
			return "must be " + want
		}
		return ""
	}
}

func prefixed(p string) func(string) string {
	return func(v string) string {
		if !strings.HasPrefix(v, p) {
			return "must start with " + p
		}
		return ""
	}
}

func emailAddress(v string) string {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v {
		return "must be an e-mail address such as support@example.com"
	}
	return ""
}

var twilioFields = []credentialField{
	{"accountSid", matches(twilioSidRe, "a Twilio Account SID (AC followed by 32 hexadecimal characters)")},
	{"authToken", anyText},
	{"fromNumber", matches(e164Re, "a phone number in E.164 form, such as +15551234567")},
}

// credentialFields lists each channel type's credentials. WEB has none.
var credentialFields = map[string][]credentialField{
	"WEB": nil,
	"WHATSAPP": {
		{"phoneNumberId", matches(digitsRe, "the numeric WhatsApp phone number id")},
		{"accessToken", anyText},
		{"appSecret", anyText},
		{"verifyToken", anyText},
	},
	"MESSENGER": {
		{"pageId", matches(digitsRe, "the numeric Facebook page id")},
		{"pageAccessToken", anyText},
		{"appSecret", anyText},
		{"verifyToken", anyText},
	},
	"TELEGRAM": {{"botToken", matches(telegramTokenRe, "a Telegram bot token (123456:ABC…) from @BotFather")}},
	"SLACK":    {{"botToken", prefixed("xoxb-")}, {"signingSecret", anyText}},
	"SMS":      twilioFields,
	"VOICE":    twilioFields,
	"EMAIL":    {{"fromAddress", emailAddress}},
}

// channelType normalises a path's channel type ("whatsapp" → "WHATSAPP") and reports
// whether it is one.
func channelType(s string) (string, bool) {
	t := strings.ToUpper(strings.TrimSpace(s))
	return t, slices.Contains(validChannelTypes, t)
}

// validateCredentials checks raw (the request's credentials object) against typ's fields
// and returns the canonical map, or the problems keyed "credentials.<field>". Every field of
// the type is required; unknown fields are refused, so nothing unchecked is stored.
func validateCredentials(typ string, raw map[string]any) (map[string]string, map[string]string) {
	fields := credentialFields[typ]
	out := make(map[string]string, len(fields))
	problems := map[string]string{}
	for _, f := range fields {
		key := "credentials." + f.name
		v, present := raw[f.name]
		s, isString := v.(string)
		s = strings.TrimSpace(s)
		switch {
		case !present || v == nil || (isString && s == ""):
			problems[key] = "is required"
		case !isString:
			problems[key] = "must be a string"
		case len(s) > maxCredentialLen:
			problems[key] = fmt.Sprintf("must be at most %d characters", maxCredentialLen)
		default:
			if msg := f.check(s); msg != "" {
				problems[key] = msg
			} else {
				out[f.name] = s
			}
		}
	}
	for k := range raw {
		if !slices.ContainsFunc(fields, func(f credentialField) bool { return f.name == k }) {
			if len(fields) == 0 {
				problems["credentials."+k] = typ + " takes no credentials"
			} else {
				problems["credentials."+k] = "is not a " + typ + " credential"
			}
		}
	}
	return out, problems
}
